# Regenerates analytic (bstrap = FALSE) reference numbers with R's did on tests/data/mpdta.csv.
# Usage: Rscript tests/reference/did/att_gt_mpdta.R tests/data/mpdta.csv out.csv
# Output columns: spec, kind, group, time, label, estimate, std_error (kind = att_gt | simple | dynamic | group |
# calendar; label = overall for the overall row of an aggregation).
suppressPackageStartupMessages(library(did))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
specs <- list(
  nocov_never = list(x = NULL, cg = "nevertreated"),
  lpop_never = list(x = ~lpop, cg = "nevertreated"),
  lpop_notyet = list(x = ~lpop, cg = "notyettreated")
)
rows <- list()
for (nm in names(specs)) {
  s <- specs[[nm]]
  out <- att_gt(yname = "lemp", tname = "year", idname = "countyreal", gname = "first.treat",
                xformla = s$x, control_group = s$cg, data = d, bstrap = FALSE, cband = FALSE)
  rows[[length(rows) + 1]] <- data.frame(spec = nm, kind = "att_gt", group = out$group, time = out$t, label = "",
                                         estimate = out$att, std_error = out$se)
  for (k in c("simple", "dynamic", "group", "calendar")) {
    a <- aggte(out, type = k, bstrap = FALSE, cband = FALSE)
    rows[[length(rows) + 1]] <- data.frame(spec = nm, kind = k, group = NA, time = NA, label = "overall",
                                           estimate = a$overall.att, std_error = a$overall.se)
    if (k != "simple") {
      rows[[length(rows) + 1]] <- data.frame(spec = nm, kind = k, group = NA, time = NA,
                                             label = as.character(a$egt), estimate = a$att.egt, std_error = a$se.egt)
    }
  }
}
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
