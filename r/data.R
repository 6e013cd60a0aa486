# Independent reading of the Duke-Breast-Cancer-MRI clinical table with readxl, used by
# tests/test_data_loaders.py to cross-check the Python loader's tallies (her2stats.data.loaders).

# Tallies of the coded columns of Clinical_and_Other_Features.xlsx, read as text below the
# two header rows and the legend row (row 4 onwards). Column positions follow the file layout.
h2s_duke_tallies <- function(path) {
  if (!requireNamespace("readxl", quietly = TRUE)) stop("R package readxl is not installed")
  x <- readxl::read_excel(path, col_names = FALSE, skip = 3, col_types = "text", .name_repair = "minimal")
  tab <- function(j) {
    v <- x[[j]]
    v[v %in% c("NP", "NC", "NA")] <- NA  # not pertinent, not collected, not available
    v <- ifelse(is.na(v), "NA", as.character(as.numeric(v)))
    t <- table(v)
    stats::setNames(as.numeric(t), names(t))
  }
  list(
    n = nrow(x),
    n_ids = length(unique(x[[1]])),
    er = tab(24), pr = tab(25), her2 = tab(26), mol_subtype = tab(27),
    t_stage = tab(29), n_stage = tab(30), nottingham_grade = tab(35),
    recurrence = tab(61), menopause = tab(21)
  )
}
