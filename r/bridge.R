# Helpers used by her2stats/r_bridge.py itself.

# Installed version of each package in `pkgs`, NA when missing (for `her2stats doctor`).
h2s_package_versions <- function(pkgs) {
  vapply(pkgs, function(p) {
    if (suppressWarnings(requireNamespace(p, quietly = TRUE))) as.character(utils::packageVersion(p)) else NA_character_
  }, character(1))
}
