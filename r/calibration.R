# Calibration hierarchy of predictions as given (Van Calster et al. 2016), computed in R for
# calibration_hierarchy(engine = "r"): mean (O - E, O/E, calibration intercept with the slope fixed
# at 1), weak (slope and intercept of logit P = a + b logit p), moderate (lowess(p, y, iter = 0) as
# rms: ICI, E50, E90, Emax) and Spiegelhalter's z, with bootstrap percentile intervals over n_boot
# resamples of (y, p) pairs drawn with R's own generator (set.seed(seed)).

# Coefficients (unnamed) of the logistic regression of 0/1 y on the columns of x (offset optional),
# as coef(glm.fit(x, y, offset = offset, family = binomial(), control = glm.control(epsilon = 1e-12,
# maxit = 50))) gives them: glm.fit's own IRLS steps, in its order (start from mustart = (y + 0.5) / 2,
# weighted least squares by the same QR, stop when |dev - devold| / (0.1 + |dev|) < epsilon), without
# its per-call set-up and summaries (a bootstrap calls it hundreds of times). Whatever glm.fit would
# handle specially (a rank-deficient or non-finite step, invalid fitted means, no convergence) is left
# to glm.fit itself, called as before.
.h2s_binomial <- stats::binomial()

.h2s_logit_coef <- function(x, y, offset = NULL) {
  fam <- .h2s_binomial
  epsilon <- 1e-12
  maxit <- 50L
  glm_coef <- function() {
    unname(suppressWarnings(stats::coef(stats::glm.fit(x, y, offset = offset, family = stats::binomial(),
                                                       control = stats::glm.control(epsilon = epsilon,
                                                                                    maxit = maxit)))))
  }
  nobs <- NROW(y)
  nvars <- ncol(x)
  weights <- rep.int(1, nobs)
  off <- if (is.null(offset)) rep.int(0, nobs) else offset
  mustart <- (weights * y + 0.5) / (weights + 1)
  eta <- fam$linkfun(mustart)
  mu <- fam$linkinv(eta)
  if (!fam$validmu(mu)) return(glm_coef())
  devold <- sum(fam$dev.resids(y, mu, weights))
  tol <- min(1e-07, epsilon / 1000)
  start <- NULL
  for (iter in seq_len(maxit)) {
    mu.eta.val <- fam$mu.eta(eta)
    if (!all(mu.eta.val != 0)) return(glm_coef())
    z <- (eta - off) + (y - mu) / mu.eta.val
    w <- sqrt((weights * mu.eta.val^2) / fam$variance(mu))
    fit <- .lm.fit(x * w, z * w, tol)
    if (any(!is.finite(fit$coefficients)) || fit$rank < nvars) return(glm_coef())
    start[fit$pivot] <- fit$coefficients
    eta <- drop(x %*% start)
    mu <- fam$linkinv(eta <- eta + off)
    dev <- sum(fam$dev.resids(y, mu, weights))
    if (!is.finite(dev) || !fam$validmu(mu)) return(glm_coef())
    if (abs(dev - devold) / (0.1 + abs(dev)) < epsilon) return(unname(start))
    devold <- dev
  }
  glm_coef()
}

# A lowess fit (x sorted) with its tied x collapsed once, as approx() would collapse them for every
# call: a bootstrap resample repeats rows, and approx(ties = mean) then runs tapply over the ties at
# each reading. lowess gives equal fitted values at equal x (clowess copies the fit to tied points),
# so the first value of each tie is also their mean: the collapsed (x, y) are read with
# ties = "ordered" (x unique and sorted: approx takes them as they are), which gives the same numbers
# as ties = mean and ties = function(v) v[1] on the raw fit. Should a tie ever hold different fitted
# values, the raw fit is kept and read with those ties as before.
.h2s_lowess_unique <- function(lw) {
  first <- !duplicated(lw$x)
  if (all(first)) return(list(x = lw$x, y = lw$y, ties_mean = "ordered", ties_first = "ordered"))
  uy <- lw$y[first]
  if (!all(lw$y == uy[cumsum(first)])) {
    return(list(x = lw$x, y = lw$y, ties_mean = mean, ties_first = function(v) v[1]))
  }
  list(x = lw$x[first], y = uy, ties_mean = "ordered", ties_first = "ordered")
}

.h2s_hier_point <- function(p, y, grid) {
  L <- log(p / (1 - p))
  x0 <- L[y == 0]; x1 <- L[y == 1]
  separated <- max(x0) <= min(x1) || max(x1) <= min(x0)
  if (separated) {
    a <- NA_real_; b <- NA_real_
  } else {
    cf <- .h2s_logit_coef(cbind(1, L), y)
    a <- cf[1]; b <- cf[2]
  }
  a1 <- .h2s_logit_coef(matrix(1, length(L), 1), y, offset = L)
  lw <- .h2s_lowess_unique(stats::lowess(p, y, iter = 0))
  cal <- stats::approx(lw$x, lw$y, xout = p, ties = lw$ties_mean)$y
  err <- abs(p - cal)
  sz <- sum((y - p) * (1 - 2 * p)) / sqrt(sum((1 - 2 * p)^2 * p * (1 - p)))
  curve <- stats::approx(lw$x, lw$y, xout = grid, ties = lw$ties_first)$y
  c(mean(y) - mean(p), sum(y) / sum(p), a1, b, a, mean(err), stats::median(err),
    stats::quantile(err, 0.9, names = FALSE), max(err), sz, curve)
}

h2s_calibration_hierarchy <- function(y, p, grid, n_boot, seed, level = 0.95) {
  y <- as.numeric(y); p <- as.numeric(p); grid <- as.numeric(grid)
  point <- .h2s_hier_point(p, y, grid)
  n <- length(y)
  set.seed(seed)
  reps <- matrix(NA_real_, nrow = n_boot, ncol = length(point))
  for (b in seq_len(n_boot)) {
    i <- sample.int(n, n, replace = TRUE)
    if (min(y[i]) == max(y[i])) next
    reps[b, ] <- .h2s_hier_point(p[i], y[i], grid)
  }
  alpha <- 1 - level
  lo <- apply(reps, 2, stats::quantile, probs = alpha / 2, na.rm = TRUE, names = FALSE)
  hi <- apply(reps, 2, stats::quantile, probs = 1 - alpha / 2, na.rm = TRUE, names = FALSE)
  n_sep <- sum(is.na(reps[, 4]) & !is.na(reps[, 1]))
  list(point = I(point), ci_low = I(lo), ci_high = I(hi), n_separated = n_sep)
}

# le Cessie-van Houwelingen unweighted sum-of-squares test for outcomes y, predictions p and a design
# X (intercept column included): rms::residuals.lrm(type = "gof")'s computation, for predictions
# alone (X = [1, logit p]) or a model fitted outside R.
h2s_gof <- function(y, p, X) {
  y <- as.numeric(y); p <- as.numeric(p); X <- as.matrix(X)
  sse <- sum((y - p)^2)
  wt <- p * (1 - p)
  d <- 1 - 2 * p
  r <- stats::lm.wfit(X, d, wt)$residuals
  sd <- sqrt(sum(wt * r^2))
  ev <- sum(wt)
  z <- (sse - ev) / sd
  list(sum_sq = sse, expected = ev, sd = sd, z = z, p = 2 * stats::pnorm(abs(z), lower.tail = FALSE))
}

# Logistic recalibration of predictions: intercept with the slope fixed at 1 (offset logit p), and
# intercept and slope of logit P = a + b logit p (NA when logit p separates y: no finite slope).
h2s_recalibration <- function(y, L) {
  y <- as.numeric(y); L <- as.numeric(L)
  ctl <- stats::glm.control(epsilon = 1e-12, maxit = 50)
  a1 <- unname(suppressWarnings(stats::coef(stats::glm.fit(matrix(1, length(L), 1), y, offset = L,
                                                           family = stats::binomial(), control = ctl))))
  x0 <- L[y == 0]; x1 <- L[y == 1]
  if (max(x0) <= min(x1) || max(x1) <= min(x0)) {
    ab <- c(NA_real_, NA_real_)
  } else {
    ab <- unname(suppressWarnings(stats::coef(stats::glm.fit(cbind(1, L), y, family = stats::binomial(),
                                                             control = ctl))))
  }
  list(intercept_only = a1, intercept = ab[1], slope = ab[2])
}
