# Reference output for evaltool.matching, produced with Debian's r-cran-matchit (MatchIt 4.5.1).
# Run from the repository root:  Rscript tests/reference/matchit/lalonde_matchit.R
# Writes tests/reference/matchit/<case>_units.csv (id, weights, subclass, distance) and
# <case>_balance.csv (summary(m, un = TRUE) for all and matched samples), plus versions.txt.
# NOTE: MatchIt 4.5.1 has bug #163 (abs() on doubles truncated in nn_matchC_vec: PS calipers ignored and
# nearest-neighbour choices biased left); use its pair choices only as a regression check of that version.
suppressMessages(library(MatchIt))
out <- "tests/reference/matchit"
d <- read.csv("tests/data/lalonde.csv")
d$race <- factor(d$race)
rownames(d) <- d$id
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
cases <- list(
  nearest = list(),
  caliper = list(caliper = 0.2),
  ratio2 = list(ratio = 2),
  replace = list(replace = TRUE),
  mahal_exact = list(distance = "mahalanobis", exact = ~ married + nodegree),
  cem = list(method = "cem")
)
for (nm in names(cases)) {
  args <- c(list(formula = f, data = d), cases[[nm]])
  m <- do.call(matchit, args)
  w <- data.frame(id = d$id, weights = m$weights,
                  subclass = if (is.null(m$subclass)) NA else as.character(m$subclass),
                  distance = if (is.null(m$distance)) NA else m$distance)
  write.csv(w, file.path(out, paste0(nm, "_units.csv")), row.names = FALSE)
  s <- summary(m, un = TRUE)
  for (part in c("all", "matched")) {
    tab <- if (part == "all") s$sum.all else s$sum.matched
    if (is.null(tab)) next
    tab <- data.frame(covariate = rownames(tab), tab, check.names = FALSE)
    write.csv(tab, file.path(out, paste0(nm, "_balance_", part, ".csv")), row.names = FALSE)
  }
  md <- match.data(m)
  att <- coef(lm(re78 ~ treat, data = md, weights = weights))[["treat"]]
  cat(sprintf("%s n_treated_matched=%d n_control_matched=%d att=%.6f\n", nm,
              sum(d$treat == 1 & m$weights > 0), sum(d$treat == 0 & m$weights > 0), att))
}
if (!is.null(m$match.matrix)) invisible(NULL)
m <- matchit(f, data = d)
mm <- data.frame(treated = rownames(m$match.matrix), control = m$match.matrix[, 1])
write.csv(mm, file.path(out, "nearest_pairs.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("MatchIt", as.character(packageVersion("MatchIt")))),
           file.path(out, "versions.txt"))
