# LASSO logistic regression for her2stats.selection.lasso (engine = "r").
# Thin wrapper over glmnet::cv.glmnet with a fold assignment chosen in Python, so both engines
# cross-validate on the same folds. Returns plain vectors / an unnamed coefficient matrix.
h2s_lasso_cv <- function(x, y, foldid, nlambda = 100L, lambda_min_ratio = 1e-4, standardize = TRUE,
                         thresh = 1e-7, maxit = 100000L) {
  x <- as.matrix(x)
  cvfit <- glmnet::cv.glmnet(x, y, family = "binomial", alpha = 1, foldid = foldid,
                             type.measure = "deviance", grouped = TRUE, nlambda = nlambda,
                             lambda.min.ratio = lambda_min_ratio, standardize = standardize,
                             thresh = thresh, maxit = maxit)
  fit <- cvfit$glmnet.fit
  list(lambda = as.numeric(fit$lambda), cvm = as.numeric(cvfit$cvm), cvsd = as.numeric(cvfit$cvsd),
       lambda_min = cvfit$lambda.min, lambda_1se = cvfit$lambda.1se,
       a0 = as.numeric(fit$a0), beta = unname(as.matrix(fit$beta)),
       dev_ratio = as.numeric(fit$dev.ratio), null_dev = fit$nulldev)
}
