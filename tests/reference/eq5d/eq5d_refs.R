# Reference output of R's eq5d (github.com/fragla/eq5d, built from source) for tests/test_proms_eq5d_parity.py.
# Run from the repository root:  Rscript tests/reference/eq5d/eq5d_refs.R
suppressPackageStartupMessages(library(eq5d))
out <- "tests/reference/eq5d"
s5 <- as.vector(outer(outer(outer(outer(1:5, 1:5, paste0), 1:5, paste0), 1:5, paste0), 1:5, paste0))
s3 <- as.vector(outer(outer(outer(outer(1:3, 1:3, paste0), 1:3, paste0), 1:3, paste0), 1:3, paste0))
d5 <- get_dimensions_from_health_states(s5, version = "5L")
d3 <- get_dimensions_from_health_states(s3, version = "3L")
vt <- eq5d(d5, country = "UK", version = "5L", type = "VT", digits = 10)
vas <- eq5d(d3, country = "UK", version = "3L", type = "VAS", digits = 10)
rcw <- sapply(s3, function(x) eq5drcw(get_dimensions_from_health_states(x, version = "3L"), country = "England",
                                       method = "EQ", digits = 10))
write.csv(data.frame(state = s5, uk_5l_vt = vt), file.path(out, "eq5d_uk_5l_vt_all_states.csv"), row.names = FALSE)
write.csv(data.frame(state = s3, uk_3l_vas = vas, england_rcw_eq = rcw),
          file.path(out, "eq5d_uk_3l_all_states.csv"), row.names = FALSE)
p <- read.csv(file.path(out, "eq5d_pairs_5l.csv"), colClasses = c("integer", "character", "character"))
tab <- pchc(p$pre, p$post, version = "5L", no.problems = TRUE, totals = TRUE)
write.csv(data.frame(class = rownames(tab), number = tab$Number, percent = tab$Percent),
          file.path(out, "eq5d_pchc_no_problems.csv"), row.names = FALSE)
tab2 <- pchc(p$pre, p$post, version = "5L", no.problems = FALSE, totals = TRUE)
write.csv(data.frame(class = rownames(tab2), number = tab2$Number, percent = tab2$Percent),
          file.path(out, "eq5d_pchc.csv"), row.names = FALSE)
ps5 <- ps(p$pre, p$post, version = "5L", digits = 10)
write.csv(data.frame(dimension = names(ps5), ps = unlist(ps5)), file.path(out, "eq5d_ps.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("eq5d", packageVersion("eq5d"))), file.path(out, "versions.txt"))
