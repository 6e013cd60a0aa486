# Multicentre validation for her2stats/stats/multicentre.py (engine = "r" and the reference):
# per-centre performance (pROC DeLong AUC, glm calibration intercept and slope, O:E, Brier, lowess
# ICI, net benefit), random-effects pooling with metafor (REML, Knapp-Hartung, prediction
# interval from predict.rma), Cochran's Q across subgroups, and the random-effects calibration
# model with lme4::glmer (Laplace). Inputs arrive cleaned by Python: y 0/1, p in [0, 1], centre or
# subgroup as integer codes 1..K (labels never reach R). Every function returns a plain data.frame
# or named list.

# Performance of predictions p against outcomes y within each group g (codes listed in `groups`).
# Returns one row per group; net benefit columns nb_1.. follow `thresholds`.
h2s_group_metrics <- function(y, p, g, groups, thresholds = numeric(0), level = 0.95) {
  z <- stats::qnorm(1 - (1 - level) / 2)
  rows <- lapply(groups, function(k) {
    yy <- y[g == k]
    pp <- p[g == k]
    n <- length(yy)
    o <- sum(yy)
    r <- pROC::roc(response = yy, predictor = pp, levels = c(0, 1), direction = "<", quiet = TRUE)
    auc <- as.numeric(r$auc)
    v_auc <- if (o >= 2 && n - o >= 2) as.numeric(pROC::var(r, method = "delong")) else NA_real_
    ci <- if (is.na(v_auc)) c(NA_real_, NA_real_, NA_real_) else
      as.numeric(pROC::ci.auc(r, conf.level = level, method = "delong"))
    e <- sum(pp)
    fin <- pp > 0 & pp < 1
    lp <- stats::qlogis(pp[fin])
    yf <- yy[fin]
    ctl <- stats::glm.control(epsilon = 1e-14, maxit = 100)
    icpt <- c(NA_real_, NA_real_)
    slp <- c(NA_real_, NA_real_)
    if (length(unique(yf)) == 2) {
      # each fit is restarted once from its estimate so that the working weights behind vcov()
      # are those of the converged coefficients (glm.fit keeps the weights of the step before)
      f1 <- suppressWarnings(stats::glm(yf ~ 1, offset = lp, family = stats::binomial(), control = ctl))
      f1 <- suppressWarnings(stats::glm(yf ~ 1, offset = lp, family = stats::binomial(), control = ctl,
                                        start = stats::coef(f1)))
      if (f1$converged) icpt <- c(stats::coef(f1)[[1]], sqrt(stats::vcov(f1)[1, 1]))
      f2 <- suppressWarnings(stats::glm(yf ~ lp, family = stats::binomial(), control = ctl))
      if (!any(is.na(stats::coef(f2))))
        f2 <- suppressWarnings(stats::glm(yf ~ lp, family = stats::binomial(), control = ctl, start = stats::coef(f2)))
      if (f2$converged && !any(is.na(stats::coef(f2)))) slp <- c(stats::coef(f2)[[2]], sqrt(stats::vcov(f2)[2, 2]))
    }
    if (length(unique(pp)) > 1) {
      sm <- stats::lowess(pp, yy, iter = 0)
      cal <- stats::approx(sm$x, sm$y, xout = pp, ties = mean)$y
    } else {
      cal <- rep(mean(yy), n)  # constant predictions: the smooth is the event rate
    }
    b <- (pp - yy)^2
    out <- data.frame(code = k, n = n, events = o, expected = e, auc = auc, auc_var = v_auc,
                      auc_ci_low = ci[1], auc_ci_high = ci[3],
                      intercept = icpt[1], intercept_se = icpt[2], slope = slp[1], slope_se = slp[2],
                      n_extreme = sum(!fin), ici = mean(abs(pp - cal)),
                      brier = mean(b), brier_se = stats::sd(b) / sqrt(n))
    for (j in seq_along(thresholds)) {
      t <- thresholds[j]
      w <- t / (1 - t)
      tp <- sum(pp >= t & yy == 1) / n
      fp <- sum(pp >= t & yy == 0) / n
      out[[paste0("nb_", j)]] <- tp - w * fp
      out[[paste0("nb_var_", j)]] <- (tp * (1 - tp) + w^2 * fp * (1 - fp) + 2 * w * tp * fp) / n
    }
    out
  })
  do.call(rbind, rows)
}

# Random-effects meta-analysis of yi with sampling variances vi: REML tau^2 by Fisher scoring
# converged to 1e-12, Knapp-Hartung CI on t(k-1), prediction interval from predict.rma
# (pi_type "default" = metafor's; "riley" = t(k-2)). Cochran's Q and I^2 as metafor.
h2s_rma <- function(yi, vi, level = 0.95, pi_type = "default") {
  fit <- metafor::rma(yi = yi, vi = vi, method = "REML", test = "knha", level = 100 * level,
                      control = list(threshold = 1e-12, maxiter = 10000, stepadj = 1))
  pr <- as.data.frame(predict(fit, level = 100 * level, pi.type = pi_type))
  c(estimate = as.numeric(fit$beta), se = as.numeric(fit$se), ci_low = fit$ci.lb,
    ci_high = fit$ci.ub, pi_low = pr$pi.lb[1], pi_high = pr$pi.ub[1], tau2 = fit$tau2,
    i2 = fit$I2, q = fit$QE, q_p = fit$QEp, k = fit$k)
}

# Cochran's Q test of equal effects (common-effect model) across independent groups.
h2s_q_test <- function(yi, vi) {
  fit <- metafor::rma(yi = yi, vi = vi, method = "EE")
  c(q = fit$QE, q_p = fit$QEp, df = fit$k - 1)
}

# Random-effects calibration model (mixed-effects calibration, Barrenada et al. 2025 MIX-C):
# glmer(y ~ L + (1 + L | g)), L = logit(p), Laplace approximation. The fit is started twice,
# with bobyqa and with Nelder-Mead (with few centres the variance parameters often sit on the
# boundary, where one optimizer can stop at a point of higher deviance than the other); the
# lower deviance is kept and polished with bobyqa converged tightly (rhoend 1e-10, PIRLS
# tolerance 1e-12). Returns the fixed effects, their covariance (lme4's Hessian-based vcov),
# theta, the random-effects covariance, the conditional modes per group, -2 log-likelihood.
h2s_glmm_calibration <- function(y, L, g) {
  g <- factor(g)
  cc <- lme4::.makeCC(action = "ignore", tol = 1e-4)
  tight <- lme4::glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                              optCtrl = list(rhoend = 1e-10, maxfun = 1e5), check.conv.singular = cc)
  nm <- lme4::glmerControl(optimizer = "Nelder_Mead", tolPwrss = 1e-12, check.conv.singular = cc)
  fits <- list(lme4::glmer(y ~ L + (1 + L | g), family = stats::binomial(), control = tight),
               lme4::glmer(y ~ L + (1 + L | g), family = stats::binomial(), control = nm))
  dev <- vapply(fits, function(f) -2 * as.numeric(stats::logLik(f)), numeric(1))
  best <- fits[[which.min(dev)]]
  fit <- lme4::glmer(y ~ L + (1 + L | g), family = stats::binomial(), control = tight,
                     start = list(theta = lme4::getME(best, "theta"), fixef = lme4::fixef(best)))
  vc <- lme4::VarCorr(fit)$g
  re <- lme4::ranef(fit)$g
  list(beta = as.numeric(lme4::fixef(fit)), vcov = as.matrix(stats::vcov(fit)),
       theta = as.numeric(lme4::getME(fit, "theta")), sigma = matrix(as.numeric(vc), 2, 2),
       codes = as.integer(as.character(rownames(re))), ranef = as.matrix(re),
       deviance = -2 * as.numeric(stats::logLik(fit)), singular = lme4::isSingular(fit, tol = 1e-4))
}
