# Restricted mean survival time for her2stats (engine = "r"). Python sends vectors: time, event
# (0/1), group coded 1..k, tau, the reference group's code and the confidence level.
# Each group's RMST and its standard error come from survival (summary.survfit's "rmean" and
# "se(rmean)"); the contrasts with the reference are Uno et al. (2014)'s formulas (survRM2's
# unadjusted analysis), written out here because survRM2 is not packaged for Debian.
h2s_rmst <- function(time, event, group, tau, reference = 1L, level = 0.95) {
  ng <- length(unique(group))
  fit <- survival::survfit(survival::Surv(time, event) ~ factor(group))
  tab <- summary(fit, rmean = tau)$table
  if (is.null(dim(tab))) tab <- matrix(tab, nrow = 1, dimnames = list(NULL, names(tab)))
  est <- unname(tab[, "rmean"])
  se <- unname(tab[, "se(rmean)"])
  z <- stats::qnorm(1 - (1 - level) / 2)
  rows <- list()
  for (g in setdiff(seq_len(ng), reference)) {
    r <- reference
    d <- est[g] - est[r]; sd <- sqrt(se[g]^2 + se[r]^2)
    lr <- log(est[g] / est[r]); slr <- sqrt(se[g]^2 / est[g]^2 + se[r]^2 / est[r]^2)
    lg <- log((tau - est[g]) / (tau - est[r]))
    slg <- sqrt(se[g]^2 / (tau - est[g])^2 + se[r]^2 / (tau - est[r])^2)
    rows[[length(rows) + 1]] <- data.frame(
      kind = 1:3, group = g,
      estimate = c(d, exp(lr), exp(lg)), se = c(sd, slr, slg),
      ci_low = c(d - z * sd, exp(lr - z * slr), exp(lg - z * slg)),
      ci_high = c(d + z * sd, exp(lr + z * slr), exp(lg + z * slg)),
      p_value = 2 * stats::pnorm(-abs(c(d / sd, lr / slr, lg / slg))))
  }
  list(rmst = est, se = se, contrasts = if (length(rows)) do.call(rbind, rows) else NULL)
}
