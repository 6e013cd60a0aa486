# Helpers used by her2stats/r_bridge.py itself.

# Whether an R package can be loaded; its version (the name arrives as data).
h2s_has_package <- function(p) isTRUE(suppressWarnings(requireNamespace(p, quietly = TRUE)))
h2s_package_version <- function(p) as.character(utils::packageVersion(p))

# Installed version of each package in `pkgs`, NA when missing (for `her2stats doctor` and the
# methods text). Reads each DESCRIPTION file without loading the namespace (loading rms takes
# seconds); load = TRUE also loads each namespace and gives NA when that fails.
h2s_package_versions <- function(pkgs, load = FALSE) {
  vapply(pkgs, function(p) {
    if (load && !suppressWarnings(requireNamespace(p, quietly = TRUE))) return(NA_character_)
    tryCatch(as.character(utils::packageVersion(p)), error = function(e) NA_character_)
  }, character(1))
}

# ---- data never becomes code ------------------------------------------------------------------
# Python sends columns under generated names (v1..vk, y, h2s_time, ...; her2stats.r_bridge.safe_names)
# and factor levels as generated codes (l1..lm). Functions that build a formula call this first, so
# a user's column name can never reach R's parser even if a caller forgets to rename.
.h2s_check_names <- function(x) {
  x <- as.character(x)
  bad <- x[is.na(x) | !grepl("^[A-Za-z][A-Za-z0-9_]*$", x)]
  if (length(bad)) stop("her2stats sends R generated column names only; got ", length(bad),
                        " other name(s) (a caller did not rename its columns)", call. = FALSE)
  x
}

# `response ~ t1 + t2 + ...` from generated names. `knots` is a named list: a term listed there
# enters as rms::rcs(term, knots) with the knots written at full precision (%.17g round-trips a
# double). `response` is package text (e.g. "survival::Surv(h2s_time, h2s_event)"), never a user's.
# The formula's environment is the caller's frame (step()'s refits look `data` up there).
.h2s_model_formula <- function(response, terms, knots = list(), env = parent.frame()) {
  terms <- .h2s_check_names(terms)
  rhs <- vapply(terms, function(v) {
    k <- if (v %in% names(knots)) as.numeric(knots[[v]]) else numeric(0)
    if (!length(k)) return(v)
    if (any(!is.finite(k))) stop("rcs knots must be finite numbers", call. = FALSE)
    sprintf("rcs(%s, c(%s))", v, paste(sprintf("%.17g", k), collapse = ", "))
  }, character(1))
  stats::as.formula(paste(response, "~", if (length(rhs)) paste(rhs, collapse = " + ") else "1"),
                    env = env)
}
