# Reference outputs of the R package eq5d for evaltool's PROM tests (tests/test_proms_paretian.py,
# tests/test_proms_valuesets.py). Run from this folder with eq5d installed in R_LIBS:
#   R_LIBS=<private library> Rscript eq5d_reference.R > eq5d_reference.Rout 2>&1
# Inputs: eq5d_testdata_pre.csv / eq5d_testdata_post.csv (the eq5d package's own PCHC test data,
# tests/testdata/pre.csv and post.csv, MIT) and pairs_5l.csv (make_pairs_5l.py).
suppressPackageStartupMessages(library(eq5d))
cat("eq5d", as.character(packageVersion("eq5d")), "|", R.version.string, "|", format(Sys.time(), "%Y-%m-%d"), "\n")

pre3 <- read.csv("eq5d_testdata_pre.csv", colClasses = "character")$x
post3 <- read.csv("eq5d_testdata_post.csv", colClasses = "character")$x
p5 <- read.csv("pairs_5l.csv", colClasses = "character")
data <- list(
  list(name = "eq5d_testdata_3l", group = "all", version = "3L", pre = pre3, post = post3),
  list(name = "pairs_5l", group = "all", version = "5L", pre = p5$pre, post = p5$post),
  list(name = "pairs_5l", group = "A", version = "5L", pre = p5$pre[p5$group == "A"], post = p5$post[p5$group == "A"]),
  list(name = "pairs_5l", group = "B", version = "5L", pre = p5$pre[p5$group == "B"], post = p5$post[p5$group == "B"])
)

long <- function(tab, d, np, tot, dim) {
  data.frame(dataset = d$name, group = d$group, no_problems = np, totals = tot, dimension = dim,
             category = rownames(tab), number = tab$Number, percent = tab$Percent)
}
summ <- list(); indiv <- list(); pss <- list()
for (d in data) {
  for (np in c(TRUE, FALSE)) for (tot in c(TRUE, FALSE)) {
    call <- sprintf('pchc(pre, post, version = "%s", no.problems = %s, totals = %s)', d$version, np, tot)
    summ[[length(summ) + 1]] <- long(pchc(d$pre, d$post, version = d$version, no.problems = np, totals = tot),
                                      d, np, tot, "profile")
    bd <- pchc(d$pre, d$post, version = d$version, no.problems = np, totals = tot, by.dimension = TRUE)
    for (dim in names(bd)) summ[[length(summ) + 1]] <- long(bd[[dim]], d, np, tot, dim)
  }
  cls <- pchc(d$pre, d$post, version = d$version, no.problems = TRUE, totals = FALSE, summary = FALSE)
  indiv[[length(indiv) + 1]] <- data.frame(dataset = d$name, group = d$group, row = seq_along(cls), pre = d$pre,
                                           post = d$post, pchc_no_problems_true = cls)
  p <- ps(d$pre, d$post, version = d$version, digits = 15)
  p2 <- ps(d$pre, d$post, version = d$version)
  pss[[length(pss) + 1]] <- data.frame(dataset = d$name, group = d$group, dimension = names(p),
                                       ps = unlist(p), ps_digits2 = unlist(p2))
}
write.csv(do.call(rbind, summ), "pchc_summary.csv", row.names = FALSE)
write.csv(do.call(rbind, indiv), "pchc_individual.csv", row.names = FALSE)
write.csv(do.call(rbind, pss), "ps.csv", row.names = FALSE)

s5 <- get_all_health_states("5L"); s3 <- get_all_health_states("3L")
vt <- eq5d(s5, version = "5L", type = "VT", country = "UK", digits = 10)
vas <- eq5d(s3, version = "3L", type = "VAS", country = "UK", digits = 10)
rcw <- eq5d(s3, version = "3L", type = "RCW", country = "England", method = "EQ", digits = 10)
write.csv(data.frame(state = s5, index_uk_5l_vt = unname(vt)), "valueset_uk_5l_vt.csv", row.names = FALSE)
write.csv(data.frame(state = s3, index_uk_3l_vas = unname(vas), index_england_rcw_eq = unname(rcw)),
          "valueset_uk_3l_vas_rcw.csv", row.names = FALSE)
cat("rows:", nrow(do.call(rbind, summ)), length(vt), length(vas), "\n")
print(pchc(pre3, post3, version = "3L"))
print(ps(pre3, post3, version = "3L"))
print(setNames(vt, s5)[c("11111", "22222", "33333", "44444", "55555")])
print(setNames(vas, s3)[c("11111", "11211", "22222", "32323", "33333")])
print(setNames(rcw, s3)[c("11111", "22222", "32123", "33333")])
