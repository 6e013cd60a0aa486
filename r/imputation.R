# Multiple imputation (mice) and Rubin's rules (mice::pool) for her2stats.stats.imputation.
# Columns arrive under generated names (v1..vk, the outcome as y) and factor levels as l1..lm;
# nothing here builds code from user text.

# mice::mice on `data`; `method` is one name per column ("" = not imputed); `donors` reaches pmm
# through blots. `ignore` (logical, one per row): rows that receive imputations but never enter a
# model (mice >= 3.12). Returns the m completed data sets and the logged events.
h2s_mice <- function(data, method, m, maxit, seed, donors = 5L, ignore = NULL) {
  meth <- as.character(method)
  names(meth) <- names(data)
  blots <- list()
  for (v in names(data)[meth == "pmm"]) blots[[v]] <- list(donors = as.integer(donors))
  args <- list(data = data, m = as.integer(m), method = meth,
               predictorMatrix = mice::make.predictorMatrix(data), maxit = as.integer(maxit),
               seed = as.integer(seed), printFlag = FALSE, blots = blots)
  if (!is.null(ignore)) args$ignore <- as.logical(ignore)
  imp <- withCallingHandlers(do.call(mice::mice, args), warning = function(w) {
    if (grepl("logged events", conditionMessage(w), fixed = TRUE)) invokeRestart("muffleWarning")
  })
  out <- lapply(seq_len(as.integer(m)), function(i) mice::complete(imp, i))
  logged <- imp$loggedEvents
  list(datasets = out,
       logged = if (is.null(logged) || !nrow(logged)) NULL else
         data.frame(it = logged$it, im = logged$im, dep = as.character(logged$dep),
                    meth = as.character(logged$meth), out = as.character(logged$out)))
}

# Logistic fits (glm) of y on every other column, one per completed data set, pooled by
# mice::pool(as.mira(fits)) (Rubin's rules, Barnard-Rubin df with dfcom = df.residual).
h2s_mi_pool_glm <- function(datasets, level = 0.95) {
  fits <- lapply(datasets, function(d) stats::glm(y ~ ., family = stats::binomial(), data = d,
                                                  control = stats::glm.control(epsilon = 1e-12, maxit = 100)))
  p <- mice::pool(mice::as.mira(fits))
  s <- summary(p, conf.int = TRUE, conf.level = level)
  pooled <- p$pooled
  list(estimate = I(as.numeric(pooled$estimate)), ubar = I(as.numeric(pooled$ubar)),
       b = I(as.numeric(pooled$b)), t = I(as.numeric(pooled$t)), dfcom = I(as.numeric(pooled$dfcom)),
       df = I(as.numeric(pooled$df)), riv = I(as.numeric(pooled$riv)), lambda = I(as.numeric(pooled$lambda)),
       fmi = I(as.numeric(pooled$fmi)), se = I(as.numeric(s$std.error)), statistic = I(as.numeric(s$statistic)),
       p_value = I(as.numeric(s$p.value)), ci_low = I(as.numeric(s[[7]])), ci_high = I(as.numeric(s[[8]])),
       coef = I(do.call(rbind, lapply(fits, stats::coef))),
       se_each = I(do.call(rbind, lapply(fits, function(f) sqrt(diag(stats::vcov(f)))))))
}

# mice::pool.scalar for each column of Q (estimates) and U (variances), m rows each;
# dfcom = n - k as in mice (n = Inf: large-sample df).
h2s_pool_scalar <- function(Q, U, n, k = 0) {
  Q <- as.matrix(Q)
  U <- as.matrix(U)
  res <- lapply(seq_len(ncol(Q)), function(j) mice::pool.scalar(Q[, j], U[, j], n = n, k = k))
  get <- function(name) I(vapply(res, function(r) as.numeric(r[[name]]), numeric(1)))
  list(qbar = get("qbar"), ubar = get("ubar"), b = get("b"), t = get("t"), df = get("df"),
       riv = get("r"), fmi = get("fmi"))
}

# Per-imputation performance of predictions p for outcome y (0/1): calibration slope and
# intercept (glm of y on logit p) and calibration-in-the-large (offset), with standard errors;
# Brier score and net benefit at thresholds with the variance of a mean.
h2s_mi_perf <- function(y, p, thresholds = NULL) {
  lp <- stats::qlogis(p)
  f <- stats::glm(y ~ lp, family = stats::binomial(), control = stats::glm.control(epsilon = 1e-12, maxit = 100))
  f0 <- stats::glm(y ~ 1, offset = lp, family = stats::binomial(),
                   control = stats::glm.control(epsilon = 1e-12, maxit = 100))
  n <- length(y)
  b <- (y - p)^2
  out <- list(slope = unname(stats::coef(f)[2]), slope_var = unname(stats::vcov(f)[2, 2]),
              intercept = unname(stats::coef(f)[1]), intercept_var = unname(stats::vcov(f)[1, 1]),
              citl = unname(stats::coef(f0)[1]), citl_var = unname(stats::vcov(f0)[1, 1]),
              brier = mean(b), brier_var = stats::var(b) / n)
  if (length(thresholds)) {
    nb <- vapply(thresholds, function(t) {
      pos <- p >= t
      c <- y * pos - (1 - y) * pos * t / (1 - t)
      c(mean(c), stats::var(c) / n)
    }, numeric(2))
    out$nb <- I(as.numeric(nb[1, ]))
    out$nb_var <- I(as.numeric(nb[2, ]))
  }
  out
}
