# ComBat harmonisation through sva::ComBat, for her2stats/harmonization.py (engine = "r").
# `dat` is features x samples (generated column names v1..vn), `batch` integer codes 1..B,
# `mod` a numeric covariate design (or NULL), `ref_batch` a batch code or NULL. Returns the
# adjusted matrix (features x samples). sva prints progress messages; they are muffled here.

h2s_combat <- function(dat, batch, mod = NULL, par_prior = TRUE, mean_only = FALSE,
                       ref_batch = NULL) {
  dat <- as.matrix(dat)
  if (!is.null(mod)) mod <- as.matrix(mod)
  out <- NULL
  utils::capture.output(suppressMessages(
    out <- sva::ComBat(dat = dat, batch = batch, mod = mod, par.prior = par_prior,
                       mean.only = mean_only, ref.batch = ref_batch)
  ))
  unname(out)
}
