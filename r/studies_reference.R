# Reference computations for the real-data studies (reports/studies/*.yaml), written directly
# against base R, pROC and survival so the package's numbers (both engines, and run_study) can be
# checked against an independent R analysis of the same rows. Nothing here calls another h2s_
# function: these are the "what a biostatistician would type in R" versions.
#
# Conventions: `data` is a data.frame (factors keep the package's level order, so dummy coding
# matches); `covariates` a character vector; the outcome a 0/1 numeric column. Return values are
# plain named lists of numeric/character vectors.

# Column names are data here too: the needed columns are renamed to generated names (`lhs`
# names for the response columns, v1..vk for the covariates) before any formula is built, and
# term names are mapped back by the model matrix's "assign" attribute (never by parsing them).
.h2s_ref_rename <- function(data, lhs, covariates, lhs_names) {
  d <- data[, c(lhs, covariates), drop = FALSE]
  safe <- if (length(covariates)) paste0("v", seq_along(covariates)) else character(0)
  names(d) <- c(lhs_names, safe)
  list(data = d, safe = safe, back = stats::setNames(as.character(covariates), safe))
}

.h2s_ref_formula <- function(lhs, safe) {
  stats::as.formula(paste(lhs, "~", paste(safe, collapse = " + ")))
}

# coefficient names of `fit` with each generated variable name replaced by the user's
.h2s_ref_coef_names <- function(fit, back) {
  mm <- stats::model.matrix(fit)
  asg <- attr(mm, "assign")
  labs <- attr(stats::terms(fit), "term.labels")
  nm <- colnames(mm)
  out <- nm
  for (j in seq_along(nm)) {
    if (asg[j] > 0) {
      v <- labs[asg[j]]
      out[j] <- paste0(back[[v]], substring(nm[j], nchar(v) + 1))
    }
  }
  stats::setNames(out, nm)
}

.h2s_ref_back <- function(x, back) {
  x <- as.character(x)
  hit <- x %in% names(back)
  x[hit] <- back[x[hit]]
  unname(x)
}

.h2s_ref_factors <- function(data) {
  # treatment (dummy) coding against the first level for every categorical column, as the
  # package reports ORs/HRs; ordered factors (grade) would otherwise get polynomial contrasts
  for (nm in names(data)) {
    if (is.character(data[[nm]])) data[[nm]] <- factor(data[[nm]])
    if (is.ordered(data[[nm]])) data[[nm]] <- factor(data[[nm]], levels = levels(data[[nm]]), ordered = FALSE)
  }
  data
}

# Logistic regression by glm (binomial, logit) on complete cases; optional stepwise AIC
# (stats::step, direction "both"/"backward", k = 2) from the full model.
h2s_ref_glm <- function(data, outcome, covariates, step = "none") {
  r <- .h2s_ref_rename(data, outcome, covariates, "h2s_y")
  data <- .h2s_ref_factors(r$data)
  data <- data[stats::complete.cases(data), , drop = FALSE]
  # do.call puts the data into the call itself, so step()'s update() refits on these rows
  fit <- do.call(stats::glm, list(formula = .h2s_ref_formula("h2s_y", r$safe),
                                  family = stats::binomial(), data = data,
                                  control = stats::glm.control(epsilon = 1e-12, maxit = 100)))
  path <- character(0)
  if (step != "none") {
    fit <- stats::step(fit, direction = step, trace = 0, k = 2)
    path <- vapply(as.character(fit$anova$Step), function(st) {
      parts <- strsplit(trimws(st), " ", fixed = TRUE)[[1]]
      if (length(parts) == 2 && parts[2] %in% r$safe) paste(parts[1], r$back[[parts[2]]]) else st
    }, character(1), USE.NAMES = FALSE)
  }
  s <- summary(fit)$coefficients
  kept <- attr(stats::terms(fit), "term.labels")
  list(term = I(unname(.h2s_ref_coef_names(fit, r$back)[rownames(s)])), coef = I(unname(s[, 1])),
       se = I(unname(s[, 2])), p = I(unname(s[, 4])),
       aic = stats::AIC(fit), n = nrow(data), events = sum(data$h2s_y == 1),
       selected = I(.h2s_ref_back(kept, r$back)), path = I(path))
}

# Fit glm on `train`, predict on `test`; pROC AUC (controls 0, cases 1, direction "<") with the
# DeLong 95% CI, the Brier score and the Hosmer-Lemeshow statistic with g quantile groups
# (ResourceSelection::hoslem.test grouping, written out: cut at unique type-7 quantiles).
h2s_ref_external <- function(train, test, outcome, covariates, g = 10) {
  r <- .h2s_ref_rename(train, outcome, covariates, "h2s_y")
  train <- .h2s_ref_factors(r$data)
  test <- .h2s_ref_factors(.h2s_ref_rename(test, outcome, covariates, "h2s_y")$data)
  train <- train[stats::complete.cases(train), , drop = FALSE]
  test <- test[stats::complete.cases(test), , drop = FALSE]
  fit <- stats::glm(.h2s_ref_formula("h2s_y", r$safe), family = stats::binomial(), data = train,
                    control = stats::glm.control(epsilon = 1e-12, maxit = 100))
  p <- unname(stats::predict(fit, newdata = test, type = "response"))
  y <- test$h2s_y
  r <- pROC::roc(y, p, levels = c(0, 1), direction = "<", quiet = TRUE)
  ci <- as.numeric(pROC::ci.auc(r, method = "delong", conf.level = 0.95))
  qq <- unique(stats::quantile(p, probs = seq(0, 1, 1 / g)))
  grp <- cut(p, breaks = qq, include.lowest = TRUE)
  o1 <- tapply(y, grp, sum); e1 <- tapply(p, grp, sum); nn <- tapply(y, grp, length)
  hl <- sum((o1 - e1)^2 / e1 + ((nn - o1) - (nn - e1))^2 / (nn - e1))
  ngroups <- length(nn)
  list(auc = as.numeric(pROC::auc(r)), ci_low = ci[1], ci_high = ci[3], n = length(y), events = sum(y),
       brier = mean((p - y)^2), hl_statistic = hl, hl_df = ngroups - 2,
       hl_p = stats::pchisq(hl, ngroups - 2, lower.tail = FALSE), prob = I(p))
}

# AUC with DeLong CI for a given score, and the paired DeLong test of two scores (pROC roc.test).
h2s_ref_auc <- function(y, score) {
  r <- pROC::roc(y, score, levels = c(0, 1), direction = "<", quiet = TRUE)
  ci <- as.numeric(pROC::ci.auc(r, method = "delong"))
  list(auc = as.numeric(pROC::auc(r)), ci_low = ci[1], ci_high = ci[3])
}

h2s_ref_delong <- function(y, score1, score2) {
  r1 <- pROC::roc(y, score1, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- pROC::roc(y, score2, levels = c(0, 1), direction = "<", quiet = TRUE)
  t <- pROC::roc.test(r1, r2, method = "delong", paired = TRUE)
  list(statistic = unname(t$statistic), p = t$p.value)
}

# Log-rank test (survival::survdiff, rho = 0) of `group`.
h2s_ref_logrank <- function(data, time, event, group) {
  data <- .h2s_ref_factors(.h2s_ref_rename(data, c(time, event), group, c("h2s_time", "h2s_event"))$data)
  f <- .h2s_ref_formula("survival::Surv(h2s_time, h2s_event)", "v1")
  sd <- survival::survdiff(f, data = data)
  df <- length(sd$n) - 1
  list(chisq = sd$chisq, df = df, p = stats::pchisq(sd$chisq, df, lower.tail = FALSE),
       n = I(as.numeric(sd$n)), observed = I(as.numeric(sd$obs)), expected = I(as.numeric(sd$exp)))
}

# Kaplan-Meier survival (log CI) of each group at `times`.
h2s_ref_km_at <- function(data, time, event, group, times) {
  data <- .h2s_ref_factors(.h2s_ref_rename(data, c(time, event), group, c("h2s_time", "h2s_event"))$data)
  f <- .h2s_ref_formula("survival::Surv(h2s_time, h2s_event)", "v1")
  s <- summary(survival::survfit(f, data = data), times = times, extend = TRUE)
  # strata are labelled "v1=<level>": the level is data, the prefix is put back as text
  strata <- paste0(group, substring(as.character(s$strata), 3))
  list(strata = I(strata), time = I(s$time), surv = I(s$surv), n_risk = I(s$n.risk))
}

# Cox model (Efron ties) on complete cases; optional step() by AIC from the full model; the
# Wald HR table, Harrell's C (survival::concordance, reverse = TRUE on the linear predictor) with
# its standard error, and the cox.zph (transform = "km") global and per-term tests.
h2s_ref_cox <- function(data, time, event, covariates, step = "none") {
  r <- .h2s_ref_rename(data, c(time, event), covariates, c("h2s_time", "h2s_event"))
  data <- .h2s_ref_factors(r$data)
  data <- data[stats::complete.cases(data), , drop = FALSE]
  f <- .h2s_ref_formula("survival::Surv(h2s_time, h2s_event)", r$safe)
  fit <- do.call(survival::coxph, list(formula = f, data = data, ties = "efron", model = TRUE))
  if (step != "none") fit <- stats::step(fit, direction = step, trace = 0, k = 2)
  s <- summary(fit)$coefficients
  cc <- survival::concordance(fit)
  zph <- survival::cox.zph(fit, transform = "km")
  kept <- attr(stats::terms(fit), "term.labels")
  list(term = I(unname(.h2s_ref_coef_names(fit, r$back)[rownames(s)])), coef = I(unname(s[, "coef"])),
       hr = I(unname(s[, "exp(coef)"])), se = I(unname(s[, "se(coef)"])), p = I(unname(s[, "Pr(>|z|)"])),
       aic = stats::AIC(fit), n = fit$n, events = fit$nevent, selected = I(.h2s_ref_back(kept, r$back)),
       c_index = unname(cc$concordance), c_se = sqrt(unname(cc$var)),
       zph_term = I(.h2s_ref_back(rownames(zph$table), r$back)), zph_chisq = I(unname(zph$table[, "chisq"])),
       zph_p = I(unname(zph$table[, "p"])))
}

# Stratified Cox model (coxph + strata(), Efron) on complete cases of covariates and strata, with
# survival::concordance (pairs within strata) and cox.zph; strata columns renamed s1..sk.
h2s_ref_cox_strata <- function(data, time, event, covariates, strata) {
  r <- .h2s_ref_rename(data, c(time, event, strata), covariates,
                       c("h2s_time", "h2s_event", paste0("s", seq_along(strata))))
  data <- .h2s_ref_factors(r$data)
  data <- data[stats::complete.cases(data), , drop = FALSE]
  # coxph knows the special by its bare name; the formula's environment supplies survival's strata()
  strata_fn <- survival::strata
  f <- stats::as.formula(paste("survival::Surv(h2s_time, h2s_event) ~", paste(r$safe, collapse = " + "),
                               "+ strata(", paste(paste0("s", seq_along(strata)), collapse = ", "), ")"),
                         env = list2env(list(strata = strata_fn), parent = environment()))
  fit <- do.call(survival::coxph, list(formula = f, data = data, ties = "efron", model = TRUE))
  s <- summary(fit)$coefficients
  cc <- survival::concordance(fit)
  zph <- survival::cox.zph(fit, transform = "km")
  list(coef = I(unname(s[, "coef"])), hr = I(unname(s[, "exp(coef)"])), se = I(unname(s[, "se(coef)"])),
       p = I(unname(s[, "Pr(>|z|)"])), n = fit$n, events = fit$nevent, loglik = I(fit$loglik),
       c_index = unname(cc$concordance), c_se = sqrt(unname(cc$var)),
       zph_chisq = I(unname(zph$table[, "chisq"])), zph_p = I(unname(zph$table[, "p"])))
}

# RMST by group at tau from print(survfit, rmean = tau): restricted mean and its standard error.
h2s_ref_rmst <- function(data, time, event, group, tau) {
  d <- data.frame(h2s_time = data[[time]], h2s_event = data[[event]], h2s_group = data[[group]])
  d <- d[stats::complete.cases(d), , drop = FALSE]
  fit <- survival::survfit(survival::Surv(h2s_time, h2s_event) ~ h2s_group, data = d)
  tab <- summary(fit, rmean = tau)$table
  list(rmst = I(unname(tab[, "rmean"])), se = I(unname(tab[, "se(rmean)"])))
}
