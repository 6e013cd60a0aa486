# Agreement statistics for her2stats/stats/agreement.py (engine = "r"): psych::ICC, psych::cohen.kappa.

# All six Shrout-Fleiss forms from a complete n x k matrix (lmer = FALSE: the ANOVA mean squares,
# which is what psych reports for complete data, without needing lme4).
h2s_icc <- function(wide, alpha = 0.05) {
  res <- psych::ICC(wide, alpha = alpha, lmer = FALSE)$results
  data.frame(type = as.character(res$type), icc = res$ICC, F = res$F, df1 = res$df1, df2 = res$df2,
             p_value = res$p, ci_low = res[["lower bound"]], ci_high = res[["upper bound"]],
             row.names = NULL)
}

# Cohen's kappa from an m x m table of counts; weights "none", "linear" or "quadratic".
# The estimate is psych's. For weighted kappa, psych 2.2.9's var.weighted sums the row weights as
# rs[i] * sum_j w[i, j] where Fleiss, Cohen & Everitt (1969) have sum_j rs[j] * w[j, i] (SAS PROC
# FREQ and statsmodels use the latter), so the variance is computed here from the 1969 formula.
h2s_kappa_fce_var <- function(table, w) {
  p <- table / sum(table)
  rs <- rowSums(p); cs <- colSums(p)
  po <- sum(w * p); pe <- sum(w * outer(rs, cs))
  w_row <- as.vector(w %*% cs); w_col <- as.vector(rs %*% w)
  inner <- w * (1 - pe) - outer(w_row, w_col, "+") * (1 - po)
  (sum(p * inner^2) - (po * pe - 2 * pe + po)^2) / (sum(table) * (1 - pe)^4)
}

h2s_kappa <- function(table, weights = "none", alpha = 0.05) {
  m <- nrow(table)
  d <- abs(outer(seq_len(m), seq_len(m), "-"))
  w <- switch(weights, none = NULL, linear = 1 - d / (m - 1), quadratic = 1 - d^2 / (m - 1)^2)
  ck <- suppressWarnings(psych::cohen.kappa(table, w = w, alpha = alpha))
  if (weights == "none") {
    list(kappa = ck$kappa, var = ck$var.kappa)
  } else {
    list(kappa = ck$weighted.kappa, var = h2s_kappa_fce_var(table, w), var_psych = ck$var.weighted)
  }
}
