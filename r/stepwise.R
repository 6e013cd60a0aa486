# p-value based stepwise selection for glm(binomial): her2stats/stats/logistic.py, criterion = "p".
# R's step() selects by AIC only; this is the entry/removal-by-p-value rule of SPSS/SAS-style
# "stepwise regression" (seed 002). Python sends complete cases with safe names (y, v1, v2, ...).
# Each candidate term is tested with a likelihood-ratio test (deviance difference), Rao's score
# test (anova(..., test = "Rao")) or a Wald test of all the term's coefficients.

.h2s_step_fit <- function(data, tt) {
  # relative deviance change 1e-14: with 1e-12 a covariate on a large scale (weight in pounds)
  # keeps ~5e-6 relative error in its Wald statistic
  ctrl <- stats::glm.control(epsilon = 1e-14, maxit = 100)
  stats::glm(.h2s_model_formula("y", tt), family = stats::binomial(), data = data, control = ctrl)
}

# statistic, df, p of `term` comparing the model without it (small) and with it (large)
.h2s_step_test <- function(small, large, term, test) {
  if (test == "lr") {
    stat <- small$deviance - large$deviance
    df <- small$df.residual - large$df.residual
  } else if (test == "score") {
    a <- stats::anova(small, large, test = "Rao")
    stat <- a$Rao[2]
    df <- a$Df[2]
  } else {
    labels <- attr(stats::terms(large), "term.labels")
    assign <- attr(stats::model.matrix(large), "assign")
    idx <- which(assign == match(term, labels))
    b <- stats::coef(large)[idx]
    v <- stats::vcov(large)[idx, idx, drop = FALSE]
    stat <- as.numeric(t(b) %*% solve(v, b))
    df <- length(idx)
  }
  c(stat, df, stats::pchisq(stat, df, lower.tail = FALSE))
}

h2s_logistic_step_p <- function(data, terms, direction = "both", p_enter = 0.05, p_remove = 0.10,
                                test = "lr") {
  current <- if (direction == "forward") character(0) else as.character(terms)
  aic <- function(tt) .h2s_step_fit(data, tt)$aic
  steps <- data.frame(change = "", statistic = NA_real_, df = NA_real_, p = NA_real_, aic = aic(current),
                      stringsAsFactors = FALSE)
  seen <- paste(sort(current), collapse = "+")
  repeat {
    changed <- FALSE
    if (direction %in% c("forward", "both")) {
      cand <- setdiff(as.character(terms), current)
      if (length(cand)) {
        small <- .h2s_step_fit(data, current)
        res <- t(vapply(cand, function(v) .h2s_step_test(small, .h2s_step_fit(data, c(current, v)), v, test),
                        numeric(3)))
        j <- which.min(res[, 3])
        if (res[j, 3] < p_enter) {
          current <- c(current, cand[j])
          steps <- rbind(steps, data.frame(change = paste("+", cand[j]), statistic = res[j, 1], df = res[j, 2],
                                           p = res[j, 3], aic = aic(current), stringsAsFactors = FALSE))
          changed <- TRUE
        }
      }
    }
    if (direction %in% c("backward", "both")) {
      repeat {
        if (!length(current)) break
        large <- .h2s_step_fit(data, current)
        res <- t(vapply(current, function(v) .h2s_step_test(.h2s_step_fit(data, setdiff(current, v)), large, v, test),
                        numeric(3)))
        j <- which.max(res[, 3])
        if (res[j, 3] > p_remove) {
          gone <- current[j]
          current <- current[-j]
          steps <- rbind(steps, data.frame(change = paste("-", gone), statistic = res[j, 1], df = res[j, 2],
                                           p = res[j, 3], aic = aic(current), stringsAsFactors = FALSE))
          changed <- TRUE
        } else {
          break
        }
      }
    }
    if (!changed) break
    key <- paste(sort(current), collapse = "+")
    if (key %in% seen) stop("stepwise selection cycles (a model was visited twice); use p_enter < p_remove", call. = FALSE)
    seen <- c(seen, key)
  }
  list(terms = I(current), steps = steps)
}
