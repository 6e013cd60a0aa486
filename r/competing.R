# Competing risks for her2stats (engine = "r"): thin wrappers over cmprsk (and survival::finegray
# for a cross-check). Python sends plain vectors: time, status coded 0 = censored / 1..m = causes,
# groups and strata coded 1..k, a numeric design matrix; no name or label of the user's data reaches
# R, so nothing here builds code from data.

# cuminc per group and cause: the corners of each step curve (time, est, var) under the key
# "<group> <cause>" (both codes), and Gray's statistic per cause when there are >= 2 groups.
h2s_cuminc <- function(time, status, group, strata, rho = 0) {
  ci <- cmprsk::cuminc(ftime = time, fstatus = status, group = group, strata = strata, rho = rho, cencode = 0)
  tests <- ci$Tests
  curves <- ci[names(ci) != "Tests"]
  curves <- lapply(curves, function(z) list(time = as.numeric(z$time), est = as.numeric(z$est),
                                            var = as.numeric(z$var)))
  list(curves = curves, stat = if (is.null(tests)) NULL else as.numeric(tests[, "stat"]),
       pv = if (is.null(tests)) NULL else as.numeric(tests[, "pv"]),
       df = if (is.null(tests)) NULL else as.numeric(tests[, "df"]))
}

# cmprsk::timepoints at given times (tests compare it with CumulativeIncidenceResult.at).
h2s_cuminc_timepoints <- function(time, status, group, times) {
  ci <- cmprsk::cuminc(ftime = time, fstatus = status, group = group, cencode = 0)
  tp <- cmprsk::timepoints(ci, times)
  list(curve = rownames(tp$est), time = as.numeric(colnames(tp$est)),
       est = as.numeric(tp$est), var = as.numeric(tp$var))
}

# Fine-Gray model. The convergence tolerance is tightened from crr's default (gtol = 1e-6) so
# that both engines report the maximiser itself, not a point within crr's stopping rule; much
# tighter than 1e-10 the line search can fail on rounding at the optimum, so crr's default is the
# fallback.
h2s_crr <- function(time, status, X, cengroup, failcode = 1L, gtol = 1e-10, maxiter = 100L) {
  X <- as.matrix(X)
  colnames(X) <- paste0("v", seq_len(ncol(X)))
  fit <- cmprsk::crr(ftime = time, fstatus = status, cov1 = X, cengroup = cengroup, failcode = failcode,
                     cencode = 0, gtol = gtol, maxiter = maxiter)
  if (!isTRUE(fit$converged))
    fit <- cmprsk::crr(ftime = time, fstatus = status, cov1 = X, cengroup = cengroup, failcode = failcode,
                       cencode = 0, maxiter = maxiter)
  list(coef = unname(fit$coef), var = as.numeric(fit$var), loglik = fit$loglik,
       loglik_null = fit$loglik.null, converged = isTRUE(fit$converged), n = fit$n,
       uftime = as.numeric(fit$uftime), bfitj = as.numeric(fit$bfitj))
}

# predict.crr at given times for the rows of X (tests: FineGrayResult.predict_cif parity).
h2s_crr_predict <- function(time, status, X, failcode = 1L, newX, times) {
  X <- as.matrix(X)
  colnames(X) <- paste0("v", seq_len(ncol(X)))
  fit <- cmprsk::crr(ftime = time, fstatus = status, cov1 = X, failcode = failcode, cencode = 0,
                     gtol = 1e-10, maxiter = 100L)
  newX <- as.matrix(newX)
  colnames(newX) <- colnames(X)
  pr <- predict(fit, cov1 = newX)
  # rows of pr: distinct failure times; column 1 = time, columns 2.. = CIF per new row
  idx <- findInterval(times, pr[, 1])
  out <- matrix(0, nrow = nrow(newX), ncol = length(times))
  for (j in seq_along(times)) if (idx[j] > 0) out[, j] <- pr[idx[j], -1]
  out
}

# The same model through survival::finegray (weighted counting-process data) and coxph with
# Breslow ties: coefficients equal crr's; the variance is coxph's robust one.
h2s_finegray_coxph <- function(time, status, X, cause = 1L) {
  X <- as.matrix(X)
  vars <- paste0("v", seq_len(ncol(X)))
  colnames(X) <- vars
  d <- data.frame(h2s_time = time, h2s_status = factor(status, levels = sort(unique(status))), X)
  fgd <- survival::finegray(survival::Surv(h2s_time, h2s_status) ~ ., data = d, etype = as.character(cause))
  f <- stats::as.formula(paste("survival::Surv(fgstart, fgstop, fgstatus) ~", paste(vars, collapse = " + ")))
  fit <- survival::coxph(f, data = fgd, weights = fgwt, ties = "breslow",
                         control = survival::coxph.control(eps = 1e-10, toler.chol = 1e-12, iter.max = 100))
  list(coef = unname(stats::coef(fit)), robust_se = unname(sqrt(diag(fit$var))))
}
