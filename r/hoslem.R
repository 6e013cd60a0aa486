# Hosmer-Lemeshow goodness-of-fit test, as ResourceSelection::hoslem.test (not in Debian).
# Groups are the intervals between unique quantiles of the predicted risk (type-7 quantiles at
# 0, 1/g, ..., 1; cut(include.lowest = TRUE)). ResourceSelection keeps g - 2 degrees of freedom
# even when tied risks give fewer groups; here df = (number of groups) - 2 and `groups` says how
# many there were, so a caller can report the adaptation.
h2s_hoslem <- function(y, yhat, g = 10) {
  qq <- unique(stats::quantile(yhat, probs = seq(0, 1, 1 / g)))
  cutyhat <- cut(yhat, breaks = qq, include.lowest = TRUE)
  observed <- stats::xtabs(cbind(y0 = 1 - y, y1 = y) ~ cutyhat)
  expected <- stats::xtabs(cbind(yhat0 = 1 - yhat, yhat1 = yhat) ~ cutyhat)
  chisq <- sum((observed - expected)^2 / expected)
  ngroups <- nrow(observed)
  df <- ngroups - 2
  list(statistic = unname(chisq), df = df, p_value = unname(1 - stats::pchisq(chisq, df)),
       groups = ngroups,
       table = data.frame(group = rownames(observed), n = as.numeric(rowSums(observed)),
                          observed_0 = as.numeric(observed[, 1]), observed_1 = as.numeric(observed[, 2]),
                          expected_0 = as.numeric(expected[, 1]), expected_1 = as.numeric(expected[, 2]),
                          stringsAsFactors = FALSE))
}
