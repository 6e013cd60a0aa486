# Proportional-odds (cumulative logit) model for her2stats/stats/ordinal.py.
# rms::orm parametrisation: logit P(Y >= y_j) = alpha_j + X beta, j = 2..K.
# eps (change in -2 log L) is tightened from orm's 0.005 so that coefficients agree with the
# Python engine to 1e-6; the fit stays in R (convert = FALSE on the Python side).

# `data`: the ordered outcome `y` and the predictors under generated names (`terms`, v1..vk),
# spline knots in `knots` (list(v2 = c(...))); the formula is built from those names only.
h2s_orm_fit <- function(data, terms, knots = list(), eps = 1e-12, maxit = 50L) {
  suppressPackageStartupMessages(library(rms))  # formulas use rcs() unqualified
  # no datadist from another fit: every fit's predictors are named v1..vk
  old <- options(datadist = NULL)
  on.exit(options(old))
  rms::orm(.h2s_model_formula("y", terms, knots), data = data, x = TRUE, y = TRUE,
           eps = eps, maxit = as.integer(maxit))
}

h2s_orm_info <- function(fit) {
  list(coefficients = I(unname(stats::coef(fit))),
       names = I(names(stats::coef(fit))),
       var = unname(as.matrix(stats::vcov(fit, intercepts = "all"))),
       fail = isTRUE(fit$fail),
       max_deriv = unname(fit$stats["Max Deriv"]),
       loglik = unname(fit$deviance),
       lr = unname(fit$stats["Model L.R."]))
}

# Per-class probabilities P(Y = y_j | x) for new data (rms predict type = "fitted.ind").
h2s_orm_predict <- function(fit, newdata) {
  p <- stats::predict(fit, newdata = newdata, type = "fitted.ind")
  unname(as.matrix(p))
}
