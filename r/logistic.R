# Logistic regression for her2stats/stats/logistic.py (engine = "r"): glm(binomial) + step().
# Python sends complete cases with safe column names (y, v1, v2, ...) and factors whose first
# level is the reference; it maps the coefficient names (v3<level>) back to variables.

# Returns the glm object itself (kept in R; summarised by h2s_logistic_summary).
h2s_logistic_fit <- function(data, terms, direction = "none", k = 2) {
  full <- .h2s_model_formula("y", terms)
  # IRLS to a relative deviance change of 1e-10 (R's default 1e-8 leaves ~1e-6 in the
  # coefficients): both engines then report the maximum-likelihood estimate itself.
  ctrl <- stats::glm.control(epsilon = 1e-12, maxit = 100)
  if (direction == "forward") {
    fit <- stats::glm(y ~ 1, family = stats::binomial(), data = data, control = ctrl)
    fit <- stats::step(fit, scope = list(lower = ~1, upper = full), direction = "forward", k = k, trace = 0)
  } else {
    fit <- stats::glm(full, family = stats::binomial(), data = data, control = ctrl)
    if (direction != "none") fit <- stats::step(fit, direction = direction, k = k, trace = 0)
  }
  fit
}

h2s_logistic_summary <- function(fit, profile = FALSE, level = 0.95) {
  cf <- summary(fit)$coefficients
  out <- list(
    coef = data.frame(name = rownames(cf), estimate = cf[, 1], se = cf[, 2], z = cf[, 3], p = cf[, 4],
                      row.names = NULL, stringsAsFactors = FALSE),
    deviance = fit$deviance, null_deviance = fit$null.deviance, aic = fit$aic,
    df_residual = fit$df.residual, converged = fit$converged,
    terms = I(as.character(attr(stats::terms(fit), "term.labels"))))
  # step() records its path; AIC there is deviance + k * edf with the k used
  if (!is.null(fit$anova)) out$steps <- data.frame(change = as.character(fit$anova$Step), criterion = fit$anova$AIC)
  if (profile) {
    ci <- suppressMessages(stats::confint(fit, level = level))
    ci <- matrix(ci, ncol = 2)
    out$coef$profile_low <- ci[, 1]
    out$coef$profile_high <- ci[, 2]
  }
  out
}

# Firth's penalised-likelihood logistic regression: for the logit link brglm2's mean-bias-reducing
# adjusted scores (type = "AS_mean") are Firth's (1993) modified score. X is the numeric design
# with its intercept column (built in Python), y is 0/1; no names travel. brglmFit starts from the
# maximum-likelihood fit, which diverges under separation; starting values from responses
# adjusted by 1/2 (brglm_control's response_adjustment) avoid that, and the estimate is the root
# of the adjusted score either way. brglmFit evaluates the binomial family at adjusted responses,
# so glm's "non-integer #successes" warning is expected and muffled.
h2s_firth_logistic <- function(X, y) {
  muffle <- function(w) if (grepl("non-integer #successes", conditionMessage(w))) invokeRestart("muffleWarning")
  fit <- withCallingHandlers(
    stats::glm(y ~ 0 + X, family = stats::binomial(), data = list(y = as.integer(y), X = X),
               method = brglm2::brglmFit, type = "AS_mean", epsilon = 1e-12, maxit = 200,
               response_adjustment = 0.5),
    warning = muffle)
  list(coef = I(unname(stats::coef(fit))), var = unname(as.matrix(stats::vcov(fit))),
       converged = isTRUE(fit$converged))
}
