# ROC / AUC wrappers over pROC for her2stats/stats/roc.py and her2stats/stats/diagnostics.py.
# Inputs arrive cleaned by Python (0/1 outcome, finite numeric scores, no NA). Every function
# returns a plain named list or data.frame. Controls are level 0, cases level 1 (pROC `levels`).

h2s_roc_fit <- function(y, score, direction = "auto") {
  pROC::roc(response = y, predictor = score, levels = c(0, 1), direction = direction,
            quiet = TRUE)
}

# One named numeric vector (not a list): a single conversion on the Python side keeps the
# bridge overhead of this hot call small. direction_lt = 1 for "<", 0 for ">".
# `partial` (two bounds), `focus` and `correct` give pROC's partial AUC (bootstrap CI only).
h2s_roc_auc <- function(y, score, direction = "auto", ci_method = "delong", level = 0.95,
                        n_boot = 2000L, seed = NULL, partial = NULL, focus = "specificity",
                        correct = FALSE) {
  r <- h2s_roc_fit(y, score, direction)
  var_delong <- NA_real_
  if (is.null(partial)) {
    var_delong <- as.numeric(pROC::var(r, method = "delong"))
  } else {
    r$auc <- h2s_partial_auc(r, partial, focus, correct)
  }
  ci <- c(NA_real_, NA_real_, NA_real_)
  if (ci_method %in% c("delong", "bootstrap")) {
    if (!is.null(seed)) set.seed(seed)
    ci <- pROC::ci.auc(r, conf.level = level, method = ci_method, boot.n = n_boot,
                       boot.stratified = TRUE, progress = "none")
  }
  c(auc = as.numeric(r$auc), direction_lt = as.numeric(r$direction == "<"),
    n_pos = length(r$cases), n_neg = length(r$controls), var_delong = var_delong,
    ci_low = as.numeric(ci[1]), ci_high = as.numeric(ci[3]))
}

h2s_partial_auc <- function(r, partial, focus = "specificity", correct = FALSE) {
  pROC::auc(r, partial.auc = partial, partial.auc.focus = focus, partial.auc.correct = correct)
}

# pROC's ci.se(r, specificities = x, conf.level = level, boot.n = n_boot, boot.stratified = TRUE)
# (pROC 1.18), its numbers unchanged, without one coords() call per replicate: the same resamples in
# the same order (per replicate, sample() of the controls, then of the cases), each resampled curve
# built by pROC's own thresholds and sensitivity/specificity functions and sorted as coords sorts
# it, then read at every target at once as coords(input = "specificity") reads it: the sensitivity
# of the first point with exactly that specificity, else coords' interpolation between the two
# neighbouring points (same operations, same order); then quantile() of each target's replicates.
# A resampled curve coords would not read in one pass (unsorted, NA, a target out of its range) is
# read by coords itself. Returns the n_targets x 3 matrix of ci.se (lower, median, upper).
.h2s_ci_se_stratified <- function(r, x, level, n_boot) {
  if (isTRUE(r$percent)) {
    return(pROC::ci.se(r, specificities = x, conf.level = level, boot.n = n_boot, boot.stratified = TRUE,
                       progress = "none"))
  }
  if (pROC:::roc.utils.is.perfect.curve(r)) {
    warning("ci.se() of a ROC curve with AUC == 1 is always a null interval and can be misleading.")
  }
  thresholds_of <- pROC:::roc.utils.thresholds
  reps <- matrix(NA_real_, nrow = n_boot, ncol = length(x))
  for (b in seq_len(n_boot)) {
    controls <- sample(r$controls, replace = TRUE)
    cases <- sample(r$cases, replace = TRUE)
    thresholds <- thresholds_of(c(cases, controls), r$direction)
    perfs <- r$fun.sesp(thresholds = thresholds, controls = controls, cases = cases, direction = r$direction)
    se <- perfs$se
    sp <- perfs$sp
    if (!anyNA(sp) && !anyNA(se) && is.unsorted(sp)) {
      se <- rev(se)
      sp <- rev(sp)
    }
    if (anyNA(sp) || anyNA(se) || is.unsorted(sp) || any(x < min(sp) | x > max(sp))) {
      rb <- r
      rb$sensitivities <- perfs$se
      rb$specificities <- perfs$sp
      rb$thresholds <- thresholds
      reps[b, ] <- pROC::coords(rb, x, input = "specificity", ret = "sensitivity", transpose = FALSE,
                                as.matrix = TRUE)[, 1]
      next
    }
    hit <- match(x, sp)
    k <- findInterval(x, sp) + 1L
    k[!is.na(hit)] <- 2L  # not read: the exact point is taken there
    out <- se[k] + ((x - sp[k]) / (sp[k - 1L] - sp[k])) * (se[k - 1L] - se[k])
    out[!is.na(hit)] <- se[hit[!is.na(hit)]]
    reps[b, ] <- out
  }
  if (any(is.na(reps))) {
    warning("NA value(s) produced during bootstrap were ignored.")
    reps <- reps[!apply(reps, 1, function(v) any(is.na(v))), , drop = FALSE]
  }
  t(apply(reps, 2, stats::quantile, probs = c(0 + (1 - level) / 2, 0.5, 1 - (1 - level) / 2)))
}

# Sensitivity at fixed specificities (given = "specificity") or specificity at fixed
# sensitivities: pROC coords(input = given), which interpolates between curve points, and its
# bootstrap CI ci.se / ci.sp (stratified). Thresholds are NA where pROC interpolated.
h2s_coords_at <- function(y, score, x, given = "specificity", direction = "auto", level = 0.95,
                          n_boot = 2000L, seed = NULL, ci = TRUE) {
  r <- h2s_roc_fit(y, score, direction)
  other <- if (given == "specificity") "sensitivity" else "specificity"
  cc <- pROC::coords(r, x = x, input = given, ret = c("threshold", other), transpose = FALSE)
  lo <- hi <- rep(NA_real_, length(x))
  if (ci) {
    if (!is.null(seed)) set.seed(seed)
    q <- if (given == "specificity") {
      .h2s_ci_se_stratified(r, x, level, n_boot)
    } else {
      pROC::ci.sp(r, sensitivities = x, conf.level = level, boot.n = n_boot,
                  boot.stratified = TRUE, progress = "none")
    }
    lo <- as.numeric(q[, 1]); hi <- as.numeric(q[, 3])
  }
  data.frame(value = x, estimate = as.numeric(cc[[other]]), threshold = as.numeric(cc$threshold),
             ci_low = lo, ci_high = hi, direction = r$direction)
}

# The curve in pROC's coords order (specificity rising), as coords() sorts it.
.h2s_sorted_curve <- function(r) {
  out <- list(sensitivities = r$sensitivities, specificities = r$specificities, thresholds = r$thresholds)
  if (is.unsorted(out$specificities)) out <- lapply(out, rev)
  out
}

# The "achievable cut-off" reading: among pROC's thresholds whose `given` coordinate reaches
# each target, the one with the best other coordinate (ties: the one closest to the target).
.h2s_achievable <- function(se, sp, x, given) {
  vapply(x, function(v) {
    if (given == "specificity") {
      ok <- which(sp >= v); k <- ok[se[ok] == max(se[ok])]; k[length(k)]
    } else {
      ok <- which(se >= v); k <- ok[sp[ok] == max(sp[ok])]; k[1]
    }
  }, numeric(1))
}

# Estimate and bootstrap CI of the achievable reading. Resamples are drawn as pROC's
# stratified.ci.se draws them (controls, then cases, with sample()) and every resampled curve is
# built by pROC's roc(); with reading = "interpolated" the same loop reproduces ci.se / ci.sp.
h2s_coords_at_boot <- function(y, score, x, given = "specificity", reading = "achievable",
                               direction = "auto", level = 0.95, n_boot = 2000L, seed = NULL) {
  r <- h2s_roc_fit(y, score, direction)
  other <- if (given == "specificity") "sensitivity" else "specificity"
  pick <- function(rr) {
    if (reading == "interpolated") {
      return(as.numeric(pROC::coords(rr, x = x, input = given, ret = other, transpose = FALSE)[[other]]))
    }
    rr <- .h2s_sorted_curve(rr)
    k <- .h2s_achievable(rr$sensitivities, rr$specificities, x, given)
    if (given == "specificity") rr$sensitivities[k] else rr$specificities[k]
  }
  rs <- .h2s_sorted_curve(r)
  k <- .h2s_achievable(rs$sensitivities, rs$specificities, x, given)
  est <- pick(r)
  if (!is.null(seed)) set.seed(seed)
  reps <- t(vapply(seq_len(n_boot), function(i) {
    controls <- sample(r$controls, replace = TRUE)
    cases <- sample(r$cases, replace = TRUE)
    pick(pROC::roc(controls = controls, cases = cases, direction = r$direction, quiet = TRUE))
  }, numeric(length(x))))
  if (length(x) == 1) reps <- t(reps)
  q <- apply(reps, 2, stats::quantile, probs = c((1 - level) / 2, 1 - (1 - level) / 2))
  data.frame(value = x, estimate = est, threshold = rs$thresholds[k],
             achieved = if (given == "specificity") rs$specificities[k] else rs$sensitivities[k],
             ci_low = as.numeric(q[1, ]), ci_high = as.numeric(q[2, ]), direction = r$direction)
}

h2s_roc_curve <- function(y, score, direction = "auto") {
  r <- h2s_roc_fit(y, score, direction)
  data.frame(threshold = r$thresholds, sensitivity = r$sensitivities,
             specificity = r$specificities, direction = r$direction)
}

# pROC smooth(): the smoothed curve, its AUC and the fitted parameters (binormal intercept and
# slope; the density bandwidth, bw.nrd0 of the pooled predictor unless given).
h2s_smooth_roc <- function(y, score, direction = "auto", method = "binormal", n = 512L, bw = "nrd0") {
  r <- h2s_roc_fit(y, score, direction)
  s <- pROC::smooth(r, method = method, n = n, bw = bw)
  co <- if (method == "binormal") unname(stats::coefficients(s$model)) else c(NA_real_, NA_real_)
  used_bw <- if (method == "density") {
    if (is.character(bw)) stats::bw.nrd0(c(r$controls, r$cases)) else bw
  } else NA_real_
  list(sensitivities = I(as.numeric(s$sensitivities)), specificities = I(as.numeric(s$specificities)),
       auc = as.numeric(pROC::auc(s)), intercept = co[1], slope = co[2], bw = used_bw)
}

# pROC's "best" threshold(s): every threshold that maximises the criterion (Youden's sens + r spec,
# or closest to the top-left corner), r from best.weights = c(cost, prevalence).
h2s_youden <- function(y, score, direction = "auto", best_method = "youden", weights = c(1, 0.5)) {
  r <- h2s_roc_fit(y, score, direction)
  cc <- pROC::coords(r, x = "best", best.method = best_method, best.weights = weights, transpose = FALSE,
                     ret = c("threshold", "sensitivity", "specificity"))
  data.frame(threshold = cc$threshold, sensitivity = cc$sensitivity,
             specificity = cc$specificity, direction = r$direction)
}

# pROC roc.test. `method` is pROC's name ("specificity" compares sensitivities at `specificity`);
# `partial`/`focus`/`correct` set partial AUCs on both curves. The caller (Python) has already
# warned when an unpaired test is given paired-looking data, so pROC's own warning is muffled.
h2s_roc_test <- function(y, score1, score2, paired = TRUE, method = "delong", y2 = NULL,
                         n_boot = 2000L, seed = NULL, level = 0.95,
                         direction1 = "auto", direction2 = "auto", alternative = "two.sided",
                         specificity = NULL, sensitivity = NULL, partial = NULL,
                         focus = "specificity", correct = FALSE) {
  r1 <- h2s_roc_fit(y, score1, direction1)
  r2 <- h2s_roc_fit(if (is.null(y2)) y else y2, score2, direction2)
  if (!is.null(partial)) {
    r1$auc <- h2s_partial_auc(r1, partial, focus, correct)
    r2$auc <- h2s_partial_auc(r2, partial, focus, correct)
  }
  diffs <- NULL
  if (method %in% c("bootstrap", "specificity", "sensitivity")) {
    # pROC does not return its replicates: draw them again, as its stratified bootstrap test
    # draws them (same seed, same order of sample() calls), for the CI of the difference
    if (!is.null(seed)) set.seed(seed)
    diffs <- .h2s_boot_diffs(r1, r2, paired, n_boot, method, specificity, sensitivity, partial, focus, correct)
  }
  if (!is.null(seed)) set.seed(seed)
  tt <- withCallingHandlers(
    pROC::roc.test(r1, r2, method = method, paired = paired, boot.n = n_boot,
                   boot.stratified = TRUE, conf.level = level, alternative = alternative,
                   specificity = specificity, sensitivity = sensitivity, progress = "none"),
    warning = function(w) {
      if (grepl("seem to be paired", conditionMessage(w), fixed = TRUE)) invokeRestart("muffleWarning")
    })
  ci <- if (is.null(tt$conf.int)) c(NA_real_, NA_real_) else as.numeric(tt$conf.int)
  sd_diffs <- NA_real_
  if (!is.null(diffs)) {
    diffs <- diffs[!is.na(diffs)]
    ci <- as.numeric(stats::quantile(diffs, c((1 - level) / 2, 1 - (1 - level) / 2)))
    sd_diffs <- stats::sd(diffs)
  }
  df <- if (!is.null(tt$parameter) && "df" %in% names(tt$parameter)) as.numeric(tt$parameter[["df"]]) else NA_real_
  est <- c(as.numeric(r1$auc), as.numeric(r2$auc))
  if (method == "specificity") {
    est <- c(pROC::coords(r1, x = specificity, input = "specificity", ret = "sensitivity", transpose = FALSE)[[1]],
             pROC::coords(r2, x = specificity, input = "specificity", ret = "sensitivity", transpose = FALSE)[[1]])
  } else if (method == "sensitivity") {
    est <- c(pROC::coords(r1, x = sensitivity, input = "sensitivity", ret = "specificity", transpose = FALSE)[[1]],
             pROC::coords(r2, x = sensitivity, input = "sensitivity", ret = "specificity", transpose = FALSE)[[1]])
  }
  c(statistic = as.numeric(tt$statistic), p_value = as.numeric(tt$p.value),
    auc1 = as.numeric(r1$auc), auc2 = as.numeric(r2$auc), estimate1 = as.numeric(est[1]),
    estimate2 = as.numeric(est[2]), ci_low = ci[1], ci_high = ci[2],
    df = df, direction1_lt = as.numeric(r1$direction == "<"),
    direction2_lt = as.numeric(r2$direction == "<"), sd_diffs = sd_diffs)
}

# Bootstrap differences of the compared quantity, resampled as pROC's stratified.bootstrap.test
# resamples (controls then cases of curve 1, then of curve 2 when unpaired) and computed on
# curves built by pROC's roc() with each curve's direction kept.
.h2s_boot_diffs <- function(r1, r2, paired, n_boot, method, specificity, sensitivity, partial,
                            focus, correct) {
  quantity <- function(rr) {
    if (method == "specificity") {
      return(pROC::coords(rr, x = specificity, input = "specificity", ret = "sensitivity", transpose = FALSE)[[1]])
    }
    if (method == "sensitivity") {
      return(pROC::coords(rr, x = sensitivity, input = "sensitivity", ret = "specificity", transpose = FALSE)[[1]])
    }
    if (is.null(partial)) return(as.numeric(rr$auc))
    as.numeric(pROC::auc(rr, partial.auc = partial, partial.auc.focus = focus, partial.auc.correct = correct,
                         allow.invalid.partial.auc.correct = TRUE))
  }
  vapply(seq_len(n_boot), function(i) {
    ic1 <- sample(seq_along(r1$controls), replace = TRUE)
    ik1 <- sample(seq_along(r1$cases), replace = TRUE)
    if (paired) {
      ic2 <- ic1; ik2 <- ik1
    } else {
      ic2 <- sample(seq_along(r2$controls), replace = TRUE)
      ik2 <- sample(seq_along(r2$cases), replace = TRUE)
    }
    b1 <- pROC::roc(controls = r1$controls[ic1], cases = r1$cases[ik1], direction = r1$direction, quiet = TRUE)
    b2 <- pROC::roc(controls = r2$controls[ic2], cases = r2$cases[ik2], direction = r2$direction, quiet = TRUE)
    quantity(b1) - quantity(b2)
  }, numeric(1))
}

# Bootstrap CIs of operating-point metrics (pROC ci.coords, stratified resamples). x = "best"
# re-selects the Youden threshold in every resample (ties broken at random); a number keeps it.
h2s_ci_coords <- function(y, score, x = "best", direction = "auto", level = 0.95, n_boot = 2000L,
                          seed = NULL) {
  r <- h2s_roc_fit(y, score, direction)
  if (!is.null(seed)) set.seed(seed)
  ret <- c("sensitivity", "specificity", "accuracy", "ppv", "npv")
  cc <- pROC::ci.coords(r, x = x, input = "threshold", ret = ret, best.method = "youden",
                        best.policy = "random", conf.level = level, boot.n = n_boot,
                        boot.stratified = TRUE, progress = "none")
  data.frame(metric = ret,
             ci_low = vapply(ret, function(k) as.numeric(cc[[k]][1, 1]), numeric(1)),
             ci_high = vapply(ret, function(k) as.numeric(cc[[k]][1, 3]), numeric(1)),
             direction = r$direction)
}

# Exact (Clopper-Pearson, binom.test) or Wilson score (prop.test without continuity correction)
# intervals for x successes out of n, vectorised over x and n.
h2s_binom_ci <- function(x, n, method = "exact", level = 0.95) {
  out <- t(mapply(function(xi, ni) {
    if (ni == 0) return(c(NA_real_, NA_real_))
    if (method == "exact") as.numeric(stats::binom.test(xi, ni, conf.level = level)$conf.int)
    else as.numeric(suppressWarnings(stats::prop.test(xi, ni, conf.level = level, correct = FALSE))$conf.int)
  }, x, n))
  data.frame(ci_low = out[, 1], ci_high = out[, 2])
}

# LR+, LR- and the diagnostic odds ratio with log-method intervals (Simel et al. 1991; Woolf
# 1955), from the 2x2 counts; NA where a zero cell leaves the interval undefined.
h2s_lr_ci <- function(tp, fp, tn, fn, level = 0.95) {
  z <- stats::qnorm(1 - (1 - level) / 2)
  se <- tp / (tp + fn); sp <- tn / (tn + fp)
  one <- function(est, cells, v) {
    if (min(cells) > 0) exp(log(est) + c(-1, 1) * z * sqrt(v)) else c(NA_real_, NA_real_)
  }
  lp <- one(se / (1 - sp), c(tp, fp), 1 / tp - 1 / (tp + fn) + 1 / fp - 1 / (fp + tn))
  ln <- one((1 - se) / sp, c(fn, tn), 1 / fn - 1 / (tp + fn) + 1 / tn - 1 / (fp + tn))
  dr <- one(tp * tn / (fp * fn), c(tp, fp, tn, fn), 1 / tp + 1 / fp + 1 / tn + 1 / fn)
  c(lr_pos_low = lp[1], lr_pos_high = lp[2], lr_neg_low = ln[1], lr_neg_high = ln[2],
    dor_low = dr[1], dor_high = dr[2])
}

# Hand & Till multiclass AUC (pROC multiclass.roc with a probability matrix, direction ">"
# within each pair as pROC's default). `class_names` (generated codes l1..lk, in the column order
# of `probs`) become the matrix's column names, which multiclass.roc matches to the response
# levels; pairs come in that class order.
h2s_multiclass_auc <- function(y, probs, class_names) {
  colnames(probs) <- class_names
  mc <- pROC::multiclass.roc(response = factor(y, levels = class_names), predictor = probs, quiet = TRUE)
  pairs <- do.call(rbind, lapply(seq_along(mc$rocs), function(i) {
    p <- mc$rocs[[i]]
    data.frame(pair = names(mc$rocs)[i], auc_ij = as.numeric(pROC::auc(p[[1]])),
               auc_ji = as.numeric(pROC::auc(p[[2]])))
  }))
  list(auc = as.numeric(mc$auc), pairs = pairs)
}

# pROC var() of the AUC or partial AUC (delong, bootstrap with `seed`, obuchowski).
h2s_auc_var <- function(y, score, direction = "auto", method = "delong", n_boot = 2000L, seed = NULL,
                        partial = NULL, focus = "specificity", correct = FALSE) {
  r <- h2s_roc_fit(y, score, direction)
  if (!is.null(partial)) r$auc <- h2s_partial_auc(r, partial, focus, correct)
  if (!is.null(seed)) set.seed(seed)
  v <- pROC::var(r, method = method, boot.n = n_boot, boot.stratified = TRUE, progress = "none")
  c(auc = as.numeric(r$auc), variance = as.numeric(v), direction_lt = as.numeric(r$direction == "<"))
}

# pROC cov() of two paired curves, with both variances by the same method: for the bootstrap
# from the same replicates (boot.return = TRUE), as pROC's power calculations take them.
h2s_auc_cov <- function(y, score1, score2, direction = "auto", method = "delong", n_boot = 2000L,
                        seed = NULL, partial = NULL, focus = "specificity", correct = FALSE) {
  r1 <- h2s_roc_fit(y, score1, direction)
  r2 <- h2s_roc_fit(y, score2, direction)
  if (!is.null(partial)) {
    r1$auc <- h2s_partial_auc(r1, partial, focus, correct)
    r2$auc <- h2s_partial_auc(r2, partial, focus, correct)
  }
  if (!is.null(seed)) set.seed(seed)
  co <- pROC::cov(r1, r2, method = method, boot.n = n_boot, boot.stratified = TRUE, boot.return = TRUE,
                  progress = "none")
  reps <- attr(co, "resampled.values")
  if (!is.null(reps)) {
    reps <- reps[stats::complete.cases(reps), , drop = FALSE]
    v1 <- stats::var(reps[, 1]); v2 <- stats::var(reps[, 2])
  } else {
    v1 <- pROC::var(r1, method = method); v2 <- pROC::var(r2, method = method)
  }
  c(covariance = as.numeric(co), var1 = as.numeric(v1), var2 = as.numeric(v2),
    auc1 = as.numeric(r1$auc), auc2 = as.numeric(r2$auc))
}

# pROC power.roc.test for one AUC. Against a reference other than 0.5 (not in pROC), the same
# variance function and solvers of pROC with V0 = V(reference) instead of V(0.5).
h2s_power_one <- function(auc, reference = 0.5, ncases = NULL, kappa = 1, sig.level = 0.05, power = NULL,
                          alternative = "two.sided") {
  if (reference == 0.5) {
    p <- pROC::power.roc.test(auc = auc, ncases = ncases, kappa = kappa, sig.level = sig.level, power = power,
                              alternative = alternative)
    return(c(ncases = as.numeric(p$ncases), power = as.numeric(p$power)))
  }
  sl <- if (alternative == "two.sided") sig.level / 2 else sig.level
  va <- pROC:::var.theta.obuchowski(auc, kappa)
  v0 <- pROC:::var.theta.obuchowski(reference, kappa)
  if (is.null(power)) {
    zb <- pROC:::solve.zbeta(nd = ncases, zalpha = stats::qnorm(1 - sl), v0 = v0, va = va, delta = auc - reference)
    return(c(ncases = ncases, power = stats::pnorm(zb)))
  }
  c(ncases = pROC:::solve.nd(zalpha = stats::qnorm(1 - sl), zbeta = stats::qnorm(power), v0 = v0, va = va,
                             delta = auc - reference), power = power)
}

# pROC power.roc.test for two curves given binormal parameters (list form).
h2s_power_params <- function(params, ncases = NULL, kappa = 1, sig.level = 0.05, power = NULL,
                             alternative = "two.sided") {
  p <- pROC::power.roc.test(as.list(params), ncases = ncases, kappa = kappa, sig.level = sig.level,
                            power = power, alternative = alternative)
  c(ncases = as.numeric(p$ncases), power = as.numeric(p$power))
}

# pROC power.roc.test from data: one curve, or two paired curves with variances by `method`.
h2s_power_roc <- function(y, score1, score2 = NULL, direction = "auto", sig.level = 0.05, power = NULL,
                          kappa = NULL, alternative = "two.sided", method = "delong", n_boot = 2000L,
                          seed = NULL) {
  r1 <- h2s_roc_fit(y, score1, direction)
  if (!is.null(seed)) set.seed(seed)
  if (is.null(score2)) {
    p <- pROC::power.roc.test(r1, sig.level = sig.level, power = power, kappa = kappa, alternative = alternative)
    return(c(ncases = as.numeric(p$ncases), power = as.numeric(p$power), auc1 = as.numeric(r1$auc),
             auc2 = NA_real_))
  }
  r2 <- h2s_roc_fit(y, score2, direction)
  p <- suppressWarnings(pROC::power.roc.test(r1, r2, sig.level = sig.level, power = power, kappa = kappa,
                                             alternative = alternative, method = method, boot.n = n_boot,
                                             progress = "none"))
  c(ncases = as.numeric(p$ncases), power = as.numeric(p$power), auc1 = as.numeric(r1$auc),
    auc2 = as.numeric(r2$auc))
}

# pROC multiclass.roc(response, predictor) with one numeric predictor: the classes arrive as codes
# l1..lk in their order (`class_names`), each pair's first class being the controls.
h2s_multiclass_univariate <- function(y, score, class_names, direction = "auto") {
  mc <- pROC::multiclass.roc(response = factor(y, levels = class_names), predictor = score,
                             levels = class_names, direction = direction, quiet = TRUE)
  pairs <- do.call(rbind, lapply(mc$rocs, function(r) {
    data.frame(pair = paste(r$levels, collapse = "/"), auc = as.numeric(pROC::auc(r)), direction = r$direction)
  }))
  list(auc = as.numeric(mc$auc), pairs = pairs)
}
