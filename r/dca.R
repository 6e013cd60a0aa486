# Decision curve analysis for her2stats (engine = "r").
# dcurves is not packaged for Debian, so the net-benefit arithmetic lives here; when a user has
# dcurves installed, dcurves::dca computes the same quantities and is used instead.
# Test-positive means predicted risk >= threshold (the dcurves convention).

# `names` are generated strategy names (m1..mk; her2stats keeps the user's model names).
h2s_dca <- function(y, probs, names, thresholds) {
  probs <- as.matrix(probs)
  colnames(probs) <- .h2s_check_names(names)
  if (requireNamespace("dcurves", quietly = TRUE)) {
    df <- as.data.frame(probs)
    df$h2s_y <- y
    f <- .h2s_model_formula("h2s_y", names)
    res <- dcurves::dca(f, data = df, thresholds = thresholds)$dca
    # dcurves labels: "Treat All" / "Treat None" with variable "all" / "none"
    # test-positive rate = tp + fp for a binary outcome (dcurves' column name has varied)
    out <- data.frame(threshold = res$threshold, strategy = as.character(res$variable),
                      tp_rate = res$tp_rate, fp_rate = res$fp_rate, test_pos_rate = res$tp_rate + res$fp_rate)
    return(out)
  }
  n <- length(y)
  prev <- mean(y)
  rows <- list()
  for (k in seq_along(names)) {
    p <- probs[, k]
    tp <- vapply(thresholds, function(t) sum(y == 1 & p >= t) / n, numeric(1))
    fp <- vapply(thresholds, function(t) sum(y == 0 & p >= t) / n, numeric(1))
    rows[[k]] <- data.frame(threshold = thresholds, strategy = names[k], tp_rate = tp, fp_rate = fp,
                            test_pos_rate = tp + fp)
  }
  nt <- length(thresholds)
  rows[[length(rows) + 1]] <- data.frame(threshold = thresholds, strategy = "all", tp_rate = rep(prev, nt),
                                         fp_rate = rep(1 - prev, nt), test_pos_rate = rep(1, nt))
  rows[[length(rows) + 1]] <- data.frame(threshold = thresholds, strategy = "none", tp_rate = rep(0, nt),
                                         fp_rate = rep(0, nt), test_pos_rate = rep(0, nt))
  do.call(rbind, rows)
}
