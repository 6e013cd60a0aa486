# LASSO logistic regression for her2stats.selection.lasso (engine = "r").
# Thin wrapper over glmnet::cv.glmnet with a fold assignment chosen in Python, so both engines
# cross-validate on the same folds. Returns plain vectors / an unnamed coefficient matrix.
h2s_lasso_cv <- function(x, y, foldid, nlambda = 100L, lambda_min_ratio = 1e-4, standardize = TRUE,
                         thresh = 1e-7, maxit = 100000L) {
  x <- as.matrix(x)
  p <- ncol(x)
  # glmnet refuses a one-column x; a second, all-zero column that is excluded from the model
  # leaves the one-feature path unchanged (it never enters) and is dropped from the answer
  extra <- if (p == 1) list(exclude = 2L) else list()
  if (p == 1) x <- cbind(x, 0)
  cvfit <- do.call(glmnet::cv.glmnet, c(list(x, y, family = "binomial", alpha = 1, foldid = foldid,
                                             type.measure = "deviance", grouped = TRUE, nlambda = nlambda,
                                             lambda.min.ratio = lambda_min_ratio, standardize = standardize,
                                             thresh = thresh, maxit = maxit), extra))
  fit <- cvfit$glmnet.fit
  list(lambda = I(as.numeric(fit$lambda)), cvm = I(as.numeric(cvfit$cvm)), cvsd = I(as.numeric(cvfit$cvsd)),
       lambda_min = cvfit$lambda.min, lambda_1se = cvfit$lambda.1se,
       a0 = I(as.numeric(fit$a0)), beta = unname(as.matrix(fit$beta))[seq_len(p), , drop = FALSE],
       dev_ratio = I(as.numeric(fit$dev.ratio)), null_dev = fit$nulldev)
}
