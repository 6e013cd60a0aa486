# rms wrappers for her2stats/stats/{models,calibration,nomogram}.py.
# A fit made by h2s_lrm_fit keeps its own datadist (fit$h2s_dd); every function that needs
# rms's datadist (nomogram) installs it with .h2s_use_dd and puts the previous
# options(datadist) back on exit, so fits of other modules (cph) keep theirs.

.h2s_use_dd <- function(fit) {
  if (!is.null(fit$h2s_dd)) {
    assign(".h2s_dd", fit$h2s_dd, envir = globalenv())
    options(datadist = ".h2s_dd")
  }
  invisible(NULL)
}

# `data` holds the 0/1 outcome `y` and the predictors under generated names (terms, v1..vk);
# `knots` names the spline terms (list(v2 = c(...))). The formula is built here from those names.
h2s_lrm_fit <- function(data, terms, knots = list()) {
  suppressPackageStartupMessages(library(rms))  # formulas use rcs() unqualified
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old))
  dd <- rms::datadist(data)
  assign(".h2s_dd", dd, envir = globalenv())
  options(datadist = ".h2s_dd")
  f <- rms::lrm(.h2s_model_formula("y", terms, knots), data = data, x = TRUE, y = TRUE)
  f$h2s_dd <- dd
  f
}

h2s_lrm_info <- function(fit) {
  list(coefficients = I(unname(fit$coefficients)),
       names = I(names(fit$coefficients)),
       var = unname(as.matrix(fit$var)),
       fail = isTRUE(fit$fail),
       stats = fit$stats,
       linear_predictors = unname(fit$linear.predictors))
}

# Bootstrap calibration curve (rms::calibrate, method="boot") and the error summaries that
# print.calibrate.default prints (mean absolute error, mean squared error, 0.9 quantile).
h2s_calibrate <- function(fit, B, seed) {
  set.seed(seed)
  cal <- rms::calibrate(fit, method = "boot", B = B)
  predicted <- attr(cal, "predicted")
  s <- !is.na(cal[, "predy"] + cal[, "calibrated.corrected"])
  err <- predicted - stats::approx(cal[s, "predy"], cal[s, "calibrated.corrected"],
                                   xout = predicted, ties = mean)$y
  list(curve = as.data.frame(unclass(cal)[, c("predy", "calibrated.orig", "calibrated.corrected",
                                               "index.orig", "training", "test", "optimism", "n")]),
       mean_abs_error = mean(abs(err), na.rm = TRUE),
       mean_sq_error = mean(err^2, na.rm = TRUE),
       q90_abs_error = unname(stats::quantile(abs(err), 0.9, na.rm = TRUE)))
}

h2s_validate <- function(fit, B, seed) {
  set.seed(seed)
  v <- rms::validate(fit, method = "boot", B = B)
  m <- unclass(v)
  attr(m, "kept") <- NULL
  out <- as.data.frame(m[, c("index.orig", "training", "test", "optimism", "index.corrected", "n")])
  out$index <- rownames(m)
  out
}

# Per-replicate indices of the resamples rms::validate draws (predab.resample, method "boot":
# one sample(n, replace = TRUE) per replicate after set.seed(seed), nothing else random): each
# resample's refit (lrm.fit) gives the training C (Hmisc::somers2 on the resample), Brier score
# on the resample, and the test C and calibration slope on the original data. A refit that fails
# gives NA. These are the draws of the bootstrap confidence intervals of the corrected indices.
h2s_validate_replicates <- function(fit, B, seed) {
  x <- fit$x
  y <- as.integer(unclass(factor(fit$y))) - 1L
  n <- length(y)
  set.seed(seed)
  out <- matrix(NA_real_, nrow = B, ncol = 5,
                dimnames = list(NULL, c("C_training", "C_test", "Slope_test", "B_training", "B_test")))
  for (b in seq_len(B)) {
    i <- sample(n, replace = TRUE)
    f <- tryCatch(rms::lrm.fit(x[i, , drop = FALSE], y[i], maxit = 12, tol = 1e-7),
                  error = function(e) NULL)
    if (is.null(f) || isTRUE(f$fail)) next
    beta <- f$coefficients
    lp <- drop(beta[1] + x %*% beta[-1])
    lp_i <- lp[i]
    rc <- tryCatch(rms::lrm.fit(lp, y), error = function(e) NULL)
    out[b, "C_training"] <- unname(Hmisc::somers2(stats::plogis(lp_i), y[i])["C"])
    out[b, "C_test"] <- unname(Hmisc::somers2(stats::plogis(lp), y)["C"])
    out[b, "Slope_test"] <- if (is.null(rc) || isTRUE(rc$fail)) NA_real_ else unname(rc$coefficients[2])
    out[b, "B_training"] <- mean((y[i] - stats::plogis(lp_i))^2)
    out[b, "B_test"] <- mean((y - stats::plogis(lp))^2)
  }
  as.data.frame(out)
}

# rms::val.prob without the plot, plus the exact C / Dxy (Hmisc::somers2): rms bins predicted
# probabilities in 5000 bins for its C.
h2s_val_prob <- function(p, y) {
  # val.prob warns that predictions of exactly 0 or 1 are left out of the logistic calibration;
  # her2stats counts them (n_extreme) and warns with the same words on both engines
  v <- withCallingHandlers(
    rms::val.prob(p, y, pl = FALSE),
    warning = function(w) if (grepl("due to probs. of 0 or 1", conditionMessage(w), fixed = TRUE))
      invokeRestart("muffleWarning"))
  s <- Hmisc::somers2(p, y)
  list(stats = v, C_exact = unname(s["C"]), Dxy_exact = unname(s["Dxy"]))
}

# le Cessie-van Houwelingen-Copas-Hosmer unweighted sum of squares test.
h2s_lrm_gof <- function(fit) {
  r <- stats::residuals(fit, type = "gof")
  list(sum_sq = unname(r["Sum of squared errors"]), expected = unname(r["Expected value|H0"]),
       sd = unname(r["SD"]), z = unname(r["Z"]), p = unname(r["P"]))
}

.h2s_nomogram_frame <- function(nom) {
  info <- attr(nom, "info")
  skip <- c("total.points", "lp", info$funlabel)
  vars <- list()
  for (nm in setdiff(names(nom), skip)) {
    S <- nom[[nm]]
    v <- S[[1]]
    vars[[nm]] <- data.frame(value = as.character(v), points = unname(S$points),
                             stringsAsFactors = FALSE)
  }
  funs <- list()
  for (fl in info$funlabel) {
    if (!is.null(nom[[fl]])) funs[[fl]] <- data.frame(value = as.numeric(nom[[fl]]$x.real),
                                                      points = unname(nom[[fl]]$x))
  }
  list(variables = vars,
       total_points = I(as.numeric(nom$total.points$x)),
       lp = data.frame(value = as.numeric(nom$lp$x.real), points = as.numeric(nom$lp$x)),
       funs = funs, scale = info$sc, intercept = unname(info$Intercept),
       funlabel = info$funlabel)
}

# `interact`: settings of interacting predictors by generated name (level codes for factors), or NULL.
h2s_nomogram_lrm <- function(fit, funlabel = "Risk", interact = NULL) {
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old))
  .h2s_use_dd(fit)
  nom <- if (is.null(interact)) rms::nomogram(fit, fun = stats::plogis, funlabel = funlabel)
         else rms::nomogram(fit, fun = stats::plogis, funlabel = funlabel, interact = as.list(interact))
  .h2s_nomogram_frame(nom)
}

.h2s_use_data_dd <- function(data) {
  assign(".h2s_dd_cph", rms::datadist(data), envir = globalenv())
  options(datadist = ".h2s_dd_cph")
}

h2s_nomogram_cph <- function(fit, times, labels, data, interact = NULL) {
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old))
  .h2s_use_data_dd(data)
  surv <- rms::Survival(fit)
  funs <- lapply(times, function(t) { force(t); function(lp) surv(t, lp) })
  names(funs) <- labels
  nom <- if (is.null(interact)) rms::nomogram(fit, fun = funs, funlabel = labels)
         else rms::nomogram(fit, fun = funs, funlabel = labels, interact = as.list(interact))
  .h2s_nomogram_frame(nom)
}

# The fit knows its predictors by generated names (v1..) and its factor levels by codes (l1..), and
# the outcome axes by generated labels; the drawn nomogram shows the user's text, which arrives
# as data: var_names (generated name -> display name), level_labels (generated name -> display
# levels in code order), fun_names (display labels of the outcome axes, in order).
.h2s_nomogram_relabel <- function(nom, var_names, level_labels, funlabel, fun_names) {
  info <- attr(nom, "info")
  ns <- names(nom)
  for (v in names(level_labels)) {
    if (!is.null(nom[[v]]) && is.character(nom[[v]][[1]])) {
      codes <- nom[[v]][[1]]
      lv <- as.character(level_labels[[v]])
      idx <- match(codes, paste0("l", seq_along(lv)))
      nom[[v]][[1]] <- ifelse(is.na(idx), codes, lv[idx])
    }
  }
  if (length(fun_names)) {
    hit <- match(funlabel, ns)
    ns[hit[!is.na(hit)]] <- as.character(fun_names)[!is.na(hit)]
    info$funlabel <- as.character(fun_names)
  }
  hit <- match(names(var_names), ns)
  ns[hit[!is.na(hit)]] <- as.character(unlist(var_names))[!is.na(hit)]
  names(nom) <- ns
  attr(nom, "info") <- info
  nom
}

h2s_nomogram_plot <- function(fit, path, device, width, height, times = NULL, labels = NULL,
                              funlabel = "Risk", data = NULL, var_names = list(), level_labels = list(),
                              fun_names = character(0)) {
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old), add = TRUE)
  if (is.null(data)) .h2s_use_dd(fit) else .h2s_use_data_dd(data)
  nom <- if (is.null(times)) {
    rms::nomogram(fit, fun = stats::plogis, funlabel = funlabel)
  } else {
    surv <- rms::Survival(fit)
    funs <- lapply(times, function(t) { force(t); function(lp) surv(t, lp) })
    rms::nomogram(fit, fun = funs, funlabel = labels)
  }
  nom <- .h2s_nomogram_relabel(nom, var_names, level_labels, if (is.null(times)) funlabel else labels,
                               fun_names)
  if (device == "png") grDevices::png(path, width = width, height = height, units = "in", res = 300)
  else if (device == "svg") grDevices::svg(path, width = width, height = height)
  else grDevices::pdf(path, width = width, height = height)
  on.exit(grDevices::dev.off(), add = TRUE)
  plot(nom)
  invisible(path)
}

# The bootstrap resamples rms::validate / rms::calibrate draw after set.seed(seed): predab.resample
# calls sample(n, replace = TRUE) once per repetition and nothing else random (B x n matrix).
h2s_boot_indices <- function(n, B, seed) {
  set.seed(seed)
  t(vapply(seq_len(B), function(i) sample(n, replace = TRUE), integer(n)))
}
