# Reclassification (NRI, IDI) for her2stats (engine = "r"). Python sends vectors (outcome 0/1 or
# time/event, two risk vectors, cut-offs, bootstrap row indices); nothing is built from data.

.h2s_cat <- function(p, cutoffs) findInterval(p, cutoffs)          # number of cut-offs <= p

.h2s_cat_table <- function(co, cn, w, k) {
  tab <- matrix(0, k, k)
  for (i in seq_along(co)) tab[co[i] + 1, cn[i] + 1] <- tab[co[i] + 1, cn[i] + 1] + w[i]
  as.numeric(tab)
}

# Binary outcome: Hmisc::improveProb on the risks (continuous NRI, IDI) and on the risk categories
# scaled to [0, 1] (categorical NRI: only the direction of each change matters to its NRI parts).
h2s_improve_prob <- function(y, p_old, p_new, cutoffs = NULL) {
  ip <- Hmisc::improveProb(p_old, p_new, y)
  out <- list(nri = ip$nri, nri_ev = ip$nri.ev, nri_ne = ip$nri.ne, se_nri = ip$se.nri, se_nri_ev = ip$se.nri.ev,
              se_nri_ne = ip$se.nri.ne, idi = ip$idi, se_idi = ip$se.idi, sens = ip$improveSens,
              spec = ip$improveSpec, pup_ev = ip$pup.ev, pdown_ev = ip$pdown.ev, pup_ne = ip$pup.ne,
              pdown_ne = ip$pdown.ne)
  if (!is.null(cutoffs)) {
    k <- length(cutoffs) + 1
    co <- .h2s_cat(p_old, cutoffs); cn <- .h2s_cat(p_new, cutoffs)
    cp <- Hmisc::improveProb(co / (k - 1), cn / (k - 1), y)
    out <- c(out, list(cat_nri = cp$nri, cat_nri_ev = cp$nri.ev, cat_nri_ne = cp$nri.ne, cat_se_nri = cp$se.nri,
                       cat_se_nri_ev = cp$se.nri.ev, cat_se_nri_ne = cp$se.nri.ne, cat_pup_ev = cp$pup.ev,
                       cat_pdown_ev = cp$pdown.ev, cat_pup_ne = cp$pup.ne, cat_pdown_ne = cp$pdown.ne,
                       table_events = .h2s_cat_table(co[y == 1], cn[y == 1], rep(1, sum(y == 1)), k),
                       table_nonevents = .h2s_cat_table(co[y == 0], cn[y == 0], rep(1, sum(y == 0)), k)))
  }
  out
}

# IPCW weights at a horizon: events by t weigh 1/G(T-), event-free at t weigh 1/G(t), others 0.
# G is survfit's Kaplan-Meier of the censoring distribution; G(T-) is its value at the previous
# distinct time (censorings at T come after events at T).
.h2s_ipcw <- function(time, event, horizon) {
  g <- survival::survfit(survival::Surv(time, 1 - event) ~ 1)
  gl <- function(x) { i <- findInterval(x, g$time, left.open = TRUE); ifelse(i == 0, 1, g$surv[pmax(i, 1)]) }
  gr <- function(x) { i <- findInterval(x, g$time); ifelse(i == 0, 1, g$surv[pmax(i, 1)]) }
  y <- ifelse(time <= horizon & event == 1, 1, ifelse(time > horizon, 0, -1))
  w <- numeric(length(time))
  w[y == 1] <- 1 / gl(time[y == 1])
  w[y == 0] <- 1 / gr(horizon)
  list(y = y, w = w)
}

# The 19 weighted statistics of her2stats.stats.reclassification._stats, in the same order.
.h2s_reclass_stats <- function(y, w, p_old, p_new, cutoffs) {
  out <- rep(NA_real_, 19)
  ev <- y == 1; ne <- y == 0
  if (sum(w[ev]) <= 0 || sum(w[ne]) <= 0) return(out)
  d <- p_new - p_old
  pp <- c(sum(w[ev & d > 0]), sum(w[ev & d < 0])) / sum(w[ev])
  pp <- c(pp, c(sum(w[ne & d > 0]), sum(w[ne & d < 0])) / sum(w[ne]))
  out[1:3] <- c(pp[1] - pp[2] - (pp[3] - pp[4]), pp[1] - pp[2], pp[4] - pp[3])
  out[12:15] <- pp
  if (!is.null(cutoffs)) {
    co <- .h2s_cat(p_old, cutoffs); cn <- .h2s_cat(p_new, cutoffs)
    cp <- c(sum(w[ev & cn > co]), sum(w[ev & cn < co])) / sum(w[ev])
    cp <- c(cp, c(sum(w[ne & cn > co]), sum(w[ne & cn < co])) / sum(w[ne]))
    out[4:6] <- c(cp[1] - cp[2] - (cp[3] - cp[4]), cp[1] - cp[2], cp[4] - cp[3])
    out[16:19] <- cp
  }
  wm <- function(v, m) sum(w[m] * v[m]) / sum(w[m])
  sens <- wm(d, ev); spec <- -wm(d, ne)
  out[7:11] <- c(sens + spec, sens, spec, wm(p_old, ev) - wm(p_old, ne), wm(p_new, ev) - wm(p_new, ne))
  out
}

# Point estimates, weighted reclassification tables and the statistics on each bootstrap resample
# (rows of `index`, 1-based row numbers drawn in Python so both engines see the same resamples).
h2s_reclass_horizon <- function(time, event, p_old, p_new, horizon, cutoffs = NULL, index) {
  iw <- .h2s_ipcw(time, event, horizon)
  est <- .h2s_reclass_stats(iw$y, iw$w, p_old, p_new, cutoffs)
  index <- as.matrix(index)
  boot <- t(apply(index, 1, function(ii) {
    b <- .h2s_ipcw(time[ii], event[ii], horizon)
    .h2s_reclass_stats(b$y, b$w, p_old[ii], p_new[ii], cutoffs)
  }))
  out <- list(estimate = est, boot = as.numeric(boot))
  if (!is.null(cutoffs)) {
    k <- length(cutoffs) + 1
    co <- .h2s_cat(p_old, cutoffs); cn <- .h2s_cat(p_new, cutoffs)
    e1 <- iw$y == 1; e0 <- iw$y == 0
    out$table_events <- .h2s_cat_table(co[e1], cn[e1], iw$w[e1], k)
    out$table_nonevents <- .h2s_cat_table(co[e0], cn[e0], iw$w[e0], k)
  }
  out
}
