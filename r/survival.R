# Survival analysis for her2stats (engine = "r"): thin wrappers over survival and rms.
# Every function takes plain vectors / data.frames built by her2stats/stats/survival.py and
# returns plain lists so the bridge converts them without surprises.

# Kaplan-Meier per group (group coded 1..k): the survfit table at every distinct time
# (censored rows included) and the medians with CI from quantile.survfit.
h2s_kaplan_meier <- function(time, event, group, conf_type = "log", conf_level = 0.95) {
  fit <- survival::survfit(survival::Surv(time, event) ~ factor(group), conf.type = conf_type,
                           conf.int = conf_level)
  ng <- length(unique(group))
  tabs <- list(); meds <- list()
  for (g in seq_len(ng)) {
    f <- if (ng > 1) fit[g] else fit
    tabs[[g]] <- data.frame(group = g, time = f$time, n_risk = f$n.risk, n_event = f$n.event,
                            n_censor = f$n.censor, survival = f$surv, std_err = f$std.err,
                            ci_low = f$lower, ci_high = f$upper)
    q <- quantile(f, probs = 0.5, conf.int = TRUE)
    meds[[g]] <- data.frame(group = g, n = f$n, events = sum(f$n.event),
                            median = unname(q$quantile), ci_low = unname(q$lower), ci_high = unname(q$upper))
  }
  list(table = do.call(rbind, tabs), medians = do.call(rbind, meds))
}

# k-group log-rank test: survdiff's chisq, observed, expected and variance matrix.
h2s_logrank <- function(time, event, group) {
  sd <- survival::survdiff(survival::Surv(time, event) ~ factor(group))
  list(chisq = sd$chisq, observed = as.numeric(sd$obs), expected = as.numeric(sd$exp),
       var = as.numeric(sd$var))
}

# Harrell's C of a risk score (higher = earlier event) with survival's IJ variance.
h2s_concordance <- function(time, event, score) {
  cf <- survival::concordance(survival::Surv(time, event) ~ score, reverse = TRUE)
  list(concordance = unname(cf$concordance), var = unname(cf$var), count = as.numeric(cf$count))
}

# `data` carries h2s_time, h2s_event and the covariates under generated names (v1..vk, factor
# levels coded l1..lm); the formula is built from those names only.
.h2s_surv_formula <- function(covariates) {
  .h2s_model_formula("survival::Surv(h2s_time, h2s_event)", covariates)
}

# rms::cph fit kept in R (x, y, surv) for nomogram / calibrate / validate. The fit's own datadist
# is in force while it is made (and kept in fit$h2s_dd); the previous options(datadist) is put
# back, since every fit names its predictors v1..vk and another fit's datadist would not match.
# strata = TRUE: the factor h2s_strata stratifies the model (rms strat(), one baseline hazard each).
# time_inc: cph's time.inc (the time of fit$surv.summary's second row; calibrate.cph's u).
h2s_fit_cph <- function(data, covariates, ties = "efron", strata = FALSE, time_inc = NULL) {
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old))
  dd <- rms::datadist(data)
  assign("h2s_cph_datadist", dd, envir = globalenv())
  options(datadist = "h2s_cph_datadist")
  f <- .h2s_surv_formula(covariates)
  if (isTRUE(strata)) {
    # cph finds the special by its bare name; the formula's environment supplies rms's strat()
    f <- stats::update(f, . ~ . + strat(h2s_strata))
    strat <- rms::strat
    environment(f) <- environment()
  }
  fit <- if (is.null(time_inc)) {
    eval(bquote(rms::cph(.(f), data = data, x = TRUE, y = TRUE, surv = TRUE, method = .(ties),
                         eps = 1e-11, tol = 1e-13, iter.max = 100)))
  } else {
    eval(bquote(rms::cph(.(f), data = data, x = TRUE, y = TRUE, surv = TRUE, method = .(ties),
                         eps = 1e-11, tol = 1e-13, iter.max = 100, time.inc = .(time_inc))))
  }
  fit$h2s_dd <- dd
  fit
}

h2s_fit_cph_at <- function(data, covariates, ties = "efron", strata = FALSE, time_inc = NULL) {
  h2s_fit_cph(data, covariates, ties, strata, time_inc)
}

# rms::calibrate.cph with cmethod = "KM" at time u, groups of about m subjects; the columns of
# the calibrate matrix (index.orig .. KM.corrected, std.err) and the predicted survival.
h2s_calibrate_cph <- function(fit, u, m, B, seed) {
  set.seed(seed)
  cal <- utils::capture.output(res <- rms::calibrate(fit, cmethod = "KM", u = u, m = m, B = B))
  mm <- unclass(res)
  out <- as.data.frame(mm[, c("index.orig", "training", "test", "mean.optimism", "mean.corrected", "n",
                              "mean.predicted", "KM", "KM.corrected", "std.err"), drop = FALSE])
  list(table = out, predicted = I(as.numeric(attr(res, "predicted"))))
}

h2s_cph_summary <- function(fit) {
  list(coef = I(unname(stats::coef(fit))), var = I(as.numeric(unclass(stats::vcov(fit)))),
       loglik = I(as.numeric(fit$loglik)))
}

h2s_coxph <- function(data, covariates, ties = "efron") {
  f <- .h2s_surv_formula(covariates)
  # the data travel inside the call: stats::step() re-evaluates it from its own frame
  eval(bquote(survival::coxph(.(f), data = .(data), ties = .(ties), x = TRUE, model = TRUE,
                              control = survival::coxph.control(eps = 1e-11, iter.max = 100))))
}

h2s_coxph_summary <- function(fit) {
  # a stratified cph fit: pairs within strata only (concordance() of a cph object ignores them)
  cf <- if (is.null(fit$strata)) survival::concordance(fit) else {
    h2s_y <- fit$y; h2s_lp <- fit$linear.predictors; h2s_st <- fit$strata; strata <- survival::strata
    survival::concordance(h2s_y ~ h2s_lp + strata(h2s_st), reverse = TRUE)
  }
  list(coef = I(unname(stats::coef(fit))), se = I(unname(sqrt(diag(fit$var)))), var = I(as.numeric(fit$var)),
       loglik = I(as.numeric(fit$loglik)), aic = stats::AIC(fit),
       concordance = unname(cf$concordance), concordance_var = unname(cf$var),
       count = I(as.numeric(cf$count)))
}

h2s_cox_zph <- function(fit, transform = "km") {
  z <- survival::cox.zph(fit, transform = transform)
  # the residuals per design column (terms = TRUE gives one column per term)
  zc <- survival::cox.zph(fit, transform = transform, terms = FALSE)
  tab <- z$table
  list(term = I(rownames(tab)), chisq = I(unname(tab[, "chisq"])), df = I(unname(tab[, "df"])),
       p = I(unname(tab[, "p"])), y = I(as.numeric(zc$y)), x = I(as.numeric(zc$x)), time = I(as.numeric(zc$time)))
}

# Stepwise AIC selection (stats::step) from the full model; returns the kept terms and the path.
h2s_cox_step <- function(data, covariates, ties = "efron", direction = "both") {
  fit <- h2s_coxph(data, covariates, ties)
  st <- stats::step(fit, direction = direction, trace = 0)
  kept <- attr(stats::terms(st), "term.labels")
  kept <- gsub("`", "", kept)
  a <- st$anova
  list(selected = I(if (length(kept)) kept else character(0)),
       step = I(ifelse(a$Step == "", "start", substr(trimws(a$Step), 1, 1))),
       term = I(trimws(sub("^[-+] ?", "", trimws(as.character(a$Step))))),
       aic = I(as.numeric(a$AIC)))
}

# ---- time-dependent performance (issue 11.7) --------------------------------------------------
# Cumulative/dynamic AUC(t) with KM-IPCW and influence-function CIs (riskRegression::Score).
h2s_td_auc <- function(time, event, risk, times, conf_level = 0.95) {
  Surv <- survival::Surv  # riskRegression recognises the response by the name `Surv`
  d <- data.frame(h2s_time = time, h2s_status = event)
  sc <- riskRegression::Score(list(model = risk), formula = Surv(h2s_time, h2s_status) ~ 1, data = d,
                              times = times, metrics = "auc", cens.model = "km", null.model = FALSE,
                              conf.int = conf_level)
  a <- as.data.frame(sc$AUC$score)
  list(auc = I(a$AUC), se = I(a$se), ci_low = I(a$lower), ci_high = I(a$upper))
}

# IPCW Brier score of predicted risks (n x length(times) matrix of 1 - S(t)).
h2s_td_brier <- function(time, event, risk, times, conf_level = 0.95) {
  Surv <- survival::Surv  # riskRegression recognises the response by the name `Surv`
  d <- data.frame(h2s_time = time, h2s_status = event)
  risk <- matrix(risk, nrow = length(time))
  sc <- riskRegression::Score(list(model = risk), formula = Surv(h2s_time, h2s_status) ~ 1, data = d,
                              times = times, metrics = "brier", cens.model = "km", null.model = FALSE,
                              conf.int = conf_level)
  b <- as.data.frame(sc$Brier$score)
  list(brier = I(b$Brier), se = I(b$se), ci_low = I(b$lower), ci_high = I(b$upper))
}

# Uno's C: concordance with n/G2 time weights, events after tau ignored.
h2s_uno_c <- function(time, event, risk, tau = NULL) {
  y <- survival::Surv(time, event)
  cf <- if (is.null(tau)) survival::concordance(y ~ risk, reverse = TRUE, timewt = "n/G2")
        else survival::concordance(y ~ risk, reverse = TRUE, timewt = "n/G2", ymax = tau)
  list(concordance = unname(cf$concordance), var = unname(cf$var))
}

# Firth's penalised partial likelihood l(b) + 1/2 log det I(b) (Heinze & Schemper 2001) on
# survival's own likelihood: at each iterate coxph(iter.max = 0, init = b) gives l(b), I(b)^-1
# and, summed over subjects, the score residuals U(b); the penalty's gradient is taken by central
# differences (coxphf, which codes it analytically, is not in Debian). Newton steps with I as
# the Hessian, at most 5 per coefficient, halved while the penalised likelihood decreases.
# X is the numeric design built in Python (no names travel).
h2s_firth_cox <- function(time, event, X, ties = "efron", maxit = 100L, h = 1e-4) {
  X <- as.matrix(X)
  p <- ncol(X)
  y <- survival::Surv(time, event)
  at <- function(b, score = TRUE) {
    f <- suppressWarnings(survival::coxph(y ~ X, ties = ties, init = b,
                                          control = survival::coxph.control(iter.max = 0)))
    v <- as.matrix(f$var)
    ld <- determinant(v, logarithm = TRUE)
    pen <- if (ld$sign > 0) -0.5 * as.numeric(ld$modulus) else -Inf
    u <- if (score) colSums(as.matrix(stats::residuals(f, type = "score"))) else NULL
    list(pl = f$loglik[2] + pen, pen = pen, var = v, u = u)
  }
  grad_pen <- function(b) {
    vapply(seq_len(p), function(r) {
      e <- replace(numeric(p), r, h)
      (at(b + e, FALSE)$pen - at(b - e, FALSE)$pen) / (2 * h)
    }, numeric(1))
  }
  b <- numeric(p)
  cur <- at(b)
  pl0 <- cur$pl
  converged <- FALSE
  for (it in seq_len(maxit)) {
    ustar <- cur$u + grad_pen(b)
    step <- as.numeric(cur$var %*% ustar)
    # the differenced penalty gradient carries ~1e-9 of error: converged when the step is below 1e-7
    if (max(abs(ustar)) < 1e-6 && max(abs(step)) < 1e-7) {
      converged <- TRUE
      break
    }
    if (max(abs(step)) > 5) step <- step * 5 / max(abs(step))
    for (half in 1:40) {
      new <- at(b + step)
      if (is.finite(new$pl) && new$pl >= cur$pl - 1e-12 * max(1, abs(cur$pl))) break
      step <- step / 2
    }
    b <- b + step
    cur <- new
  }
  list(coef = I(b), var = I(as.numeric(cur$var)), loglik = cur$pl, loglik0 = pl0, converged = converged)
}

# Cox model with time-varying coefficients (coxph tt()): `data` has h2s_time, h2s_event, the
# design columns x1..xp (numbers) and optionally the factor h2s_strata; tt_columns get
# x * log(t) (kind "log") or x * (t > cut) (kind "step").
h2s_coxph_tt <- function(data, columns, tt_columns, kinds, cuts, ties = "efron", strata = FALSE) {
  fns <- lapply(seq_along(tt_columns), function(i) {
    cut <- cuts[i]
    if (kinds[i] == "log") function(x, t, ...) x * log(t) else function(x, t, ...) x * (t > cut)
  })
  rhs <- c(.h2s_check_names(columns), sprintf("tt(%s)", .h2s_check_names(tt_columns)))
  if (isTRUE(strata)) rhs <- c(rhs, "strata(h2s_strata)")
  tt <- function(x) x   # the special only marks the column; coxph applies the tt functions
  strata_fn <- survival::strata
  env <- list2env(list(tt = tt, strata = strata_fn), parent = environment())
  f <- stats::as.formula(paste("survival::Surv(h2s_time, h2s_event) ~", paste(rhs, collapse = " + ")), env = env)
  fit <- survival::coxph(f, data = data, ties = ties, tt = fns,
                         control = survival::coxph.control(eps = 1e-11, iter.max = 100))
  list(coef = I(unname(stats::coef(fit))), var = I(as.numeric(fit$var)), loglik = I(as.numeric(fit$loglik)))
}

# rms::validate.cph of a stratified fit: Dxy from the predicted survival at u.
h2s_validate_cph_u <- function(fit, B, seed, u) {
  set.seed(seed)
  v <- rms::validate(fit, method = "boot", B = B, u = u)
  m <- unclass(v)
  attr(m, "kept") <- NULL
  out <- as.data.frame(m[, c("index.orig", "training", "test", "optimism", "index.corrected", "n")])
  out$index <- rownames(m)
  out
}
