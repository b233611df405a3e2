# MatchIt's own balance code (summary.matchit's bal1var, MatchIt 4.5.1) applied to the matched set evaltool
# chose for matchit(treat ~ age + educ + race + married + nodegree + re74 + re75, data = lalonde)
# (tests/reference/matchit/evaltool_nearest_units.csv; ATT 894.37 as in MatchIt's documentation; 4.5.1's own
# choice differs because of bug #163). Run from the repository root:
#   Rscript tests/reference/matchit/balance_of_evaltool_match.R
suppressMessages(library(MatchIt))
d <- read.csv("tests/data/lalonde.csv")
d$race <- factor(d$race)
u <- read.csv("tests/reference/matchit/evaltool_nearest_units.csv")
stopifnot(identical(u$id, d$id))
ps <- fitted(glm(treat ~ age + educ + race + married + nodegree + re74 + re75, data = d, family = binomial))
X <- cbind(distance = ps, model.matrix(~ age + educ + race + married + nodegree + re74 + re75 - 1, data = d,
           contrasts.arg = list(race = contrasts(d$race, contrasts = FALSE))))
sw <- rep(1, nrow(d))
tab <- t(apply(X, 2, function(x) MatchIt:::bal1var(x, d$treat, ww = u$weights, s.weights = sw,
                                                   standardize = TRUE, compute.pair.dist = FALSE)))
tab <- data.frame(covariate = rownames(tab), tab[, 1:6], check.names = FALSE)
write.csv(tab, "tests/reference/matchit/evaltool_nearest_balance_matched.csv", row.names = FALSE)
md <- d[u$weights > 0, ]; md$weights <- u$weights[u$weights > 0]
cat(sprintf("att=%.6f n1=%d n0=%d\n", coef(lm(re78 ~ treat, data = md, weights = weights))[["treat"]],
            sum(md$treat == 1), sum(md$treat == 0)))
