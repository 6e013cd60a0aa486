# ROC / AUC wrappers over pROC for her2stats/stats/roc.py and her2stats/stats/diagnostics.py.
# Inputs arrive cleaned by Python (0/1 outcome, finite numeric scores, no NA). Every function
# returns a plain named list or data.frame. Controls are level 0, cases level 1 (pROC `levels`).

h2s_roc_fit <- function(y, score, direction = "auto") {
  pROC::roc(response = y, predictor = score, levels = c(0, 1), direction = direction,
            quiet = TRUE)
}

# One named numeric vector (not a list): a single conversion on the Python side keeps the
# bridge overhead of this hot call small. direction_lt = 1 for "<", 0 for ">".
h2s_roc_auc <- function(y, score, direction = "auto", ci_method = "delong", level = 0.95,
                        n_boot = 2000L, seed = NULL) {
  r <- h2s_roc_fit(y, score, direction)
  ci <- c(NA_real_, NA_real_, NA_real_)
  if (ci_method %in% c("delong", "bootstrap")) {
    if (!is.null(seed)) set.seed(seed)
    ci <- pROC::ci.auc(r, conf.level = level, method = ci_method, boot.n = n_boot,
                       boot.stratified = TRUE, progress = "none")
  }
  c(auc = as.numeric(r$auc), direction_lt = as.numeric(r$direction == "<"),
    n_pos = length(r$cases), n_neg = length(r$controls),
    var_delong = as.numeric(pROC::var(r, method = "delong")),
    ci_low = as.numeric(ci[1]), ci_high = as.numeric(ci[3]))
}

h2s_roc_curve <- function(y, score, direction = "auto") {
  r <- h2s_roc_fit(y, score, direction)
  data.frame(threshold = r$thresholds, sensitivity = r$sensitivities,
             specificity = r$specificities, direction = r$direction)
}

# pROC's "best" Youden threshold(s): every threshold that maximises sens + spec.
h2s_youden <- function(y, score, direction = "auto") {
  r <- h2s_roc_fit(y, score, direction)
  cc <- pROC::coords(r, x = "best", best.method = "youden", transpose = FALSE,
                     ret = c("threshold", "sensitivity", "specificity"))
  data.frame(threshold = cc$threshold, sensitivity = cc$sensitivity,
             specificity = cc$specificity, direction = r$direction)
}

h2s_roc_test <- function(y, score1, score2, paired = TRUE, method = "delong", y2 = NULL,
                         n_boot = 2000L, seed = NULL, level = 0.95,
                         direction1 = "auto", direction2 = "auto") {
  r1 <- h2s_roc_fit(y, score1, direction1)
  r2 <- h2s_roc_fit(if (is.null(y2)) y else y2, score2, direction2)
  if (!is.null(seed)) set.seed(seed)
  tt <- pROC::roc.test(r1, r2, method = method, paired = paired, boot.n = n_boot,
                       boot.stratified = TRUE, conf.level = level, progress = "none")
  ci <- if (is.null(tt$conf.int)) c(NA_real_, NA_real_) else as.numeric(tt$conf.int)
  df <- if (!is.null(tt$parameter) && "df" %in% names(tt$parameter)) as.numeric(tt$parameter[["df"]]) else NA_real_
  c(statistic = as.numeric(tt$statistic), p_value = as.numeric(tt$p.value),
    auc1 = as.numeric(r1$auc), auc2 = as.numeric(r2$auc), ci_low = ci[1], ci_high = ci[2],
    df = df, direction1_lt = as.numeric(r1$direction == "<"),
    direction2_lt = as.numeric(r2$direction == "<"))
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
