# Reader-study (MRMC) figures of merit and their covariance matrix, for her2stats/mrmc.py
# (engine = "r"). The analysis of variance is shared with Python; R computes what the estimators
# need from the readings: the FOM of every (treatment, reader) cell and the covariance matrix of
# those FOMs (jackknife and the unbiased U-statistic estimator in base R, DeLong with pROC).
#
# `d` has generated column names: v1 treatment index (1..I), v2 reader index (1..J), v3 case
# index, v4 truth (0/1), v5 rating. Cell p = (i - 1) * J + j. Returns list(fom, cov) with cov
# the P x P matrix as a vector (it is symmetric).

h2s_mrmc_kernel <- function(x, y) {
  d <- outer(x, y, "-")
  (d > 0) + 0.5 * (d == 0)
}

h2s_mrmc_fom <- function(x, y, metric, threshold) {
  switch(metric,
         auc = mean(h2s_mrmc_kernel(x, y)),
         sensitivity = mean(x >= threshold),
         specificity = mean(y < threshold),
         stop("unknown metric ", metric))
}

h2s_mrmc_fom_cov <- function(d, metric = "auc", cov = "jackknife", threshold = NULL,
                             split_plot = FALSE) {
  I <- max(d$v1)
  J <- max(d$v2)
  P <- I * J
  fom <- numeric(P)
  S <- matrix(0, P, P)
  groups <- if (isTRUE(split_plot)) as.list(seq_len(J)) else list(seq_len(J))
  for (g in groups) {
    cases <- sort(unique(d$v3[d$v2 %in% g]))
    truth <- d$v4[match(cases, d$v3)]
    pos <- cases[truth == 1]
    neg <- cases[truth == 0]
    cells <- expand.grid(j = g, i = seq_len(I))
    idx <- (cells$i - 1) * J + cells$j
    rating_of <- function(i, j, ks) {
      sub <- d[d$v1 == i & d$v2 == j, ]
      sub$v5[match(ks, sub$v3)]
    }
    X <- lapply(seq_along(idx), function(q) rating_of(cells$i[q], cells$j[q], pos))
    Y <- lapply(seq_along(idx), function(q) rating_of(cells$i[q], cells$j[q], neg))
    for (q in seq_along(idx)) fom[idx[q]] <- h2s_mrmc_fom(X[[q]], Y[[q]], metric, threshold)
    n1 <- length(pos)
    n0 <- length(neg)
    if (cov == "jackknife") {
      # leave one case out; sensitivity (specificity) only depends on positives (negatives)
      drop_pos <- metric != "specificity"
      drop_neg <- metric != "sensitivity"
      loo <- NULL
      for (q in seq_along(idx)) {
        v <- c(if (drop_pos) vapply(seq_len(n1), function(a)
                 h2s_mrmc_fom(X[[q]][-a], Y[[q]], metric, threshold), numeric(1)),
               if (drop_neg) vapply(seq_len(n0), function(b)
                 h2s_mrmc_fom(X[[q]], Y[[q]][-b], metric, threshold), numeric(1)))
        loo <- rbind(loo, v)
      }
      n <- ncol(loo)
      centred <- loo - rowMeans(loo)
      block <- (n - 1) / n * tcrossprod(centred)
    } else if (cov == "delong") {
      rocs <- lapply(seq_along(idx), function(q)
        pROC::roc(response = c(rep(1, n1), rep(0, n0)), predictor = c(X[[q]], Y[[q]]),
                  levels = c(0, 1), direction = "<", quiet = TRUE))
      block <- matrix(0, length(idx), length(idx))
      for (a in seq_along(idx)) {
        block[a, a] <- pROC::var(rocs[[a]], method = "delong")
        if (a > 1) for (b in seq_len(a - 1)) {
          block[a, b] <- block[b, a] <- pROC::cov(rocs[[a]], rocs[[b]], method = "delong")
        }
      }
    } else if (cov == "unbiased") {
      K <- lapply(seq_along(idx), function(q) h2s_mrmc_kernel(X[[q]], Y[[q]]))
      block <- matrix(0, length(idx), length(idx))
      for (a in seq_along(idx)) for (b in seq_along(idx)) {
        A <- K[[a]]
        B <- K[[b]]
        # sum over pairs of (positive, negative) pairs sharing no case
        s4 <- sum(A) * sum(B) - sum(rowSums(A) * rowSums(B)) - sum(colSums(A) * colSums(B)) + sum(A * B)
        block[a, b] <- mean(A) * mean(B) - s4 / (n1 * (n1 - 1) * n0 * (n0 - 1))
      }
    } else {
      stop("unknown covariance method ", cov)
    }
    S[idx, idx] <- block
  }
  list(fom = fom, cov = as.vector(S))
}
