# Calibration hierarchy of predictions as given (Van Calster et al. 2016), computed in R for
# calibration_hierarchy(engine = "r"): mean (O - E, O/E, calibration intercept with the slope fixed
# at 1), weak (slope and intercept of logit P = a + b logit p), moderate (lowess(p, y, iter = 0) as
# rms: ICI, E50, E90, Emax) and Spiegelhalter's z, with bootstrap percentile intervals over n_boot
# resamples of (y, p) pairs drawn with R's own generator (set.seed(seed)).

.h2s_hier_point <- function(p, y, grid) {
  L <- log(p / (1 - p))
  x0 <- L[y == 0]; x1 <- L[y == 1]
  separated <- max(x0) <= min(x1) || max(x1) <= min(x0)
  if (separated) {
    a <- NA_real_; b <- NA_real_
  } else {
    cf <- suppressWarnings(stats::coef(stats::glm.fit(cbind(1, L), y, family = stats::binomial(),
                                                      control = stats::glm.control(epsilon = 1e-12, maxit = 50))))
    a <- unname(cf[1]); b <- unname(cf[2])
  }
  a1 <- unname(suppressWarnings(stats::coef(stats::glm.fit(matrix(1, length(L), 1), y, offset = L,
                                                           family = stats::binomial(),
                                                           control = stats::glm.control(epsilon = 1e-12, maxit = 50)))))
  lw <- stats::lowess(p, y, iter = 0)
  cal <- stats::approx(lw$x, lw$y, xout = p, ties = mean)$y
  err <- abs(p - cal)
  sz <- sum((y - p) * (1 - 2 * p)) / sqrt(sum((1 - 2 * p)^2 * p * (1 - p)))
  curve <- stats::approx(lw$x, lw$y, xout = grid, ties = function(v) v[1])$y
  c(mean(y) - mean(p), sum(y) / sum(p), a1, b, a, mean(err), stats::median(err),
    unname(stats::quantile(err, 0.9)), max(err), sz, curve)
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
