# Model formulas from a design spec (her2stats/stats/design.py, r_design): R never receives a
# user's formula or column names. `spec` holds, by generated name (v1..vk):
#   kinds: "linear" | "rcs" | "pol" | "factor" (a factor of level codes l1..lm)
#   args:  the knots of an rcs term (numeric vector; a single integer = number of knots, rms's
#          default quantiles), the degree of a pol term
#   terms: one character vector of generated names per model term (length > 1: interaction)
# and `strata` (Cox) generated names entering as strat(). Terms are joined with ":" in the
# order given (main effects first), so rms's column order is the design's.
.h2s_spec_term <- function(v, spec) {
  v <- .h2s_check_names(v)
  kind <- spec$kinds[[v]]
  if (is.null(kind)) stop("design spec: no kind for ", v, call. = FALSE)
  if (kind == "rcs") {
    k <- as.numeric(spec$args[[v]])
    if (any(!is.finite(k))) stop("rcs knots must be finite numbers", call. = FALSE)
    if (length(k) == 1) return(sprintf("rcs(%s, %d)", v, as.integer(k)))
    return(sprintf("rcs(%s, c(%s))", v, paste(sprintf("%.17g", k), collapse = ", ")))
  }
  if (kind == "pol") return(sprintf("pol(%s, %d)", v, as.integer(spec$args[[v]])))
  if (kind %in% c("linear", "factor")) return(v)
  stop("design spec: unknown kind ", kind, call. = FALSE)
}

.h2s_spec_formula <- function(response, spec, strata = character(0), env = parent.frame()) {
  rhs <- vapply(spec$terms, function(tt) paste(vapply(as.character(tt), .h2s_spec_term, character(1),
                                                      spec = spec), collapse = ":"), character(1))
  strata <- .h2s_check_names(strata)
  if (length(strata)) rhs <- c(rhs, sprintf("strat(%s)", strata))
  stats::as.formula(paste(response, "~", paste(rhs, collapse = " + ")), env = env)
}

# rms::lrm on a design spec; the fit keeps its datadist as h2s_lrm_fit's does. lrm.fit's
# convergence criterion (change in -2 log L below eps = 0.025) is tightened to 1e-10 so that the
# estimate is the maximum to ~1e-9 (with the default, models with interactions stop ~3e-6 short).
h2s_lrm_fit_spec <- function(data, spec) {
  suppressPackageStartupMessages(library(rms))
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old))
  dd <- rms::datadist(data)
  assign(".h2s_dd", dd, envir = globalenv())
  options(datadist = ".h2s_dd")
  f <- rms::lrm(.h2s_spec_formula("y", spec), data = data, x = TRUE, y = TRUE, eps = 1e-10, maxit = 50L)
  f$h2s_dd <- dd
  f
}

# rms::orm on a design spec (eps tightened as h2s_orm_fit).
h2s_orm_fit_spec <- function(data, spec, eps = 1e-12, maxit = 50L) {
  suppressPackageStartupMessages(library(rms))
  old <- options(datadist = NULL)
  on.exit(options(old))
  rms::orm(.h2s_spec_formula("y", spec), data = data, x = TRUE, y = TRUE, eps = eps, maxit = as.integer(maxit))
}

# rms::cph on a design spec: Surv(h2s_time, h2s_event), convergence as h2s_fit_cph; the fit keeps
# its datadist (fit$h2s_dd) as h2s_fit_cph's does. Strata (generated names) enter as strat().
h2s_cph_fit_spec <- function(data, spec, strata = character(0), ties = "efron") {
  suppressPackageStartupMessages(library(rms))
  old <- options(datadist = getOption("datadist"))
  on.exit(options(old))
  dd <- rms::datadist(data)
  assign("h2s_cph_datadist", dd, envir = globalenv())
  options(datadist = "h2s_cph_datadist")
  f <- .h2s_spec_formula("survival::Surv(h2s_time, h2s_event)", spec, strata)
  fit <- rms::cph(f, data = data, x = TRUE, y = TRUE, surv = TRUE, method = ties, eps = 1e-11, tol = 1e-13,
                  iter.max = 100)
  fit$h2s_dd <- dd
  fit
}

h2s_cph_names <- function(fit) I(names(stats::coef(fit)))
