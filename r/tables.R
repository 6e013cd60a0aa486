# Hypothesis tests for her2stats/stats/htest.py and her2stats/stats/tables.py (engine = "r").
# Inputs arrive validated by Python. Each function returns a plain named list:
# statistic, df, p_value, method, estimate, ci_low, ci_high.

.h2s_htest_list <- function(tt) {
  num <- function(v) if (is.null(v)) NA_real_ else unname(as.numeric(v))
  ci <- if (is.null(tt$conf.int)) c(NA_real_, NA_real_) else as.numeric(tt$conf.int)
  est <- tt$estimate
  # two-sample t.test prints both means; the estimate we report is their difference
  if (!is.null(est) && length(est) == 2) est <- est[1] - est[2]
  list(statistic = num(tt$statistic), df = num(tt$parameter), p_value = num(tt$p.value),
       method = tt$method, estimate = num(est), ci_low = ci[1], ci_high = ci[2])
}

h2s_chisq_test <- function(table, correct = TRUE) {
  .h2s_htest_list(suppressWarnings(stats::chisq.test(table, correct = correct)))
}

h2s_fisher_test <- function(table, conf_level = 0.95) {
  storage.mode(table) <- "integer"
  # A larger workspace than R's default lets FEXACT finish on Table 1-sized r x c tables.
  .h2s_htest_list(stats::fisher.test(table, conf.level = conf_level, workspace = 2e7))
}

h2s_t_test <- function(x, y, var_equal = FALSE, conf_level = 0.95) {
  .h2s_htest_list(stats::t.test(x, y, var.equal = var_equal, conf.level = conf_level))
}

h2s_wilcox_test <- function(x, y, correct = TRUE, exact = NULL) {
  .h2s_htest_list(suppressWarnings(stats::wilcox.test(x, y, correct = correct, exact = exact)))
}

h2s_kruskal_test <- function(x, g) {
  .h2s_htest_list(stats::kruskal.test(x, factor(g)))
}

h2s_anova_test <- function(x, g) {
  .h2s_htest_list(stats::oneway.test(x ~ factor(g), var.equal = TRUE))
}

h2s_normality_test <- function(x, test = "shapiro") {
  tt <- if (test == "shapiro") stats::shapiro.test(x) else
    suppressWarnings(stats::ks.test(x, "pnorm", mean(x), stats::sd(x)))
  .h2s_htest_list(tt)
}

h2s_p_adjust <- function(p, method = "BH", n = NULL) {
  if (is.null(n)) n <- length(p[!is.na(p)])
  stats::p.adjust(p, method = method, n = n)
}
