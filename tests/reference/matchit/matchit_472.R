# Reference output of a current MatchIt (4.7.2, built from github.com/kosukeimai/MatchIt) on lalonde, for
# tests/test_matching_matchit472.py. Run from the repository root with that MatchIt on the library path:
#   Rscript tests/reference/matchit/matchit_472.R
# Writes tests/reference/matchit/m472_<case>_units.csv (id, weights, subclass, distance),
# m472_<case>_matches.csv (get_matches(): id, subclass, weights, treat; nearest-neighbour cases) and
# m472_summary.csv (case, n_control_matched, ess_control, att, se_* as below).
#
# Effects follow MatchIt's vignette "estimating-effects": ATT = coefficient of treat in
# lm(re78 ~ treat, weights = weights); SEs from sandwich::vcovCL -- clustered on the matched set (subclass)
# for pair matching, on set and unit (two-way, ~subclass + id) on the get_matches() data for matching with
# replacement; HC3 (vcovHC) for subclassification.
suppressMessages({library(MatchIt); library(sandwich)})
out <- "tests/reference/matchit"
d <- read.csv("tests/data/lalonde.csv")
d$race <- factor(d$race)
rownames(d) <- d$id
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
cases <- list(
  mahal_replace = list(distance = "mahalanobis", replace = TRUE),        # MatchIt's README example
  mahal_exact = list(distance = "mahalanobis", exact = ~ married + nodegree),
  subclass6 = list(method = "subclass", subclass = 6),
  nearest = list(),
  caliper = list(caliper = 0.2),
  ratio2 = list(ratio = 2),
  replace = list(replace = TRUE)
)
ess <- function(w) sum(w)^2 / sum(w^2)
rows <- list()
for (nm in names(cases)) {
  m <- do.call(matchit, c(list(formula = f, data = d), cases[[nm]]))
  w <- data.frame(id = d$id, weights = m$weights,
                  subclass = if (is.null(m$subclass)) NA else as.character(m$subclass),
                  distance = if (is.null(m$distance)) NA else m$distance)
  write.csv(w, file.path(out, paste0("m472_", nm, "_units.csv")), row.names = FALSE)
  md <- match.data(m)
  fit <- lm(re78 ~ treat, data = md, weights = weights)
  se_pair <- se_pair_unit <- se_hc3 <- NA
  if (!is.null(m$subclass) || isTRUE(cases[[nm]]$replace)) {
    if (isTRUE(cases[[nm]]$replace)) {
      gm <- get_matches(m, id = "mid")
      write.csv(data.frame(id = gm$mid, subclass = as.character(gm$subclass), weights = gm$weights, treat = gm$treat),
                file.path(out, paste0("m472_", nm, "_matches.csv")), row.names = FALSE)
      fit_gm <- lm(re78 ~ treat, data = gm, weights = weights)
      se_pair <- sqrt(vcovCL(fit_gm, cluster = ~subclass)["treat", "treat"])
      se_pair_unit <- sqrt(vcovCL(fit_gm, cluster = ~subclass + mid)["treat", "treat"])
    } else if (nm != "subclass6") {
      se_pair <- sqrt(vcovCL(fit, cluster = ~subclass)["treat", "treat"])
    }
  }
  se_hc3 <- sqrt(vcovHC(fit, type = "HC3")["treat", "treat"])
  ctrl <- m$weights[m$treat == 0]
  rows[[nm]] <- data.frame(case = nm, n_control_matched = sum(ctrl > 0), ess_control = ess(ctrl[ctrl > 0]),
                           att = unname(coef(fit)["treat"]), se_pair = se_pair, se_pair_unit = se_pair_unit,
                           se_hc3 = se_hc3)
}
write.csv(do.call(rbind, rows), file.path(out, "m472_summary.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("MatchIt", packageVersion("MatchIt")),
             paste("sandwich", packageVersion("sandwich"))), file.path(out, "m472_versions.txt"))
