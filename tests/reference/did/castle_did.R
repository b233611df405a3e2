# Reference output of R's did on the castle-doctrine data (tests/data/castle.csv), for
# tests/test_effects_staggered_castle.py. Usage:
#   Rscript tests/reference/did/castle_did.R tests/data/castle.csv castle_att_gt.csv castle_aggte.csv \
#           castle_warnings.csv tests/data/mpdta.csv
# Every call uses bstrap = FALSE, cband = FALSE (analytic SEs); aggte(..., na.rm = TRUE) because
# cells without overlap are NA. Columns: spec, kind, group, time, label, estimate, std_error.
suppressPackageStartupMessages(library(did))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
specs <- list(
  dr_pov_unemp = list(x = ~ poverty + unemployrt, m = "dr", cg = "nevertreated", data = d),
  ipw_pov_unemp = list(x = ~ poverty + unemployrt, m = "ipw", cg = "nevertreated", data = d),
  dr_police = list(x = ~ l_police + unemployrt + poverty, m = "dr", cg = "nevertreated", data = d),
  dr_police_notyet = list(x = ~ l_police + unemployrt + poverty, m = "dr", cg = "notyettreated", data = d),
  reg_pov_unemp = list(x = ~ poverty + unemployrt, m = "reg", cg = "nevertreated", data = d),
  # no never-treated states: R drops the periods from the last cohort's adoption on (with nevertreated it
  # would also make that cohort the comparison group, but castle's last cohort is one state, which R refuses;
  # see mpdta_no_never below)
  nocov_no_never_notyet = list(x = ~1, m = "dr", cg = "notyettreated", data = d[d$effyear != 0, ]),
  # a treated state whose adoption year was lost: R drops it
  nocov_missing_g = list(x = ~1, m = "dr", cg = "nevertreated",
                         data = transform(d, effyear = ifelse(sid == 1, NA, effyear)))
)
if (length(args) > 4) {  # mpdta (tests/data/mpdta.csv) without its never-treated counties
  m <- read.csv(args[5])
  m <- m[m$first.treat != 0, ]
  m$l_homicide <- m$lemp; m$sid <- m$countyreal; m$effyear <- m$first.treat
  specs$mpdta_no_never <- list(x = ~1, m = "dr", cg = "nevertreated", data = m)
  specs$mpdta_no_never_notyet <- list(x = ~1, m = "dr", cg = "notyettreated", data = m)
}
rows_gt <- list(); rows_ag <- list(); warn <- list()
for (nm in names(specs)) {
  s <- specs[[nm]]
  w <- character(0)
  out <- withCallingHandlers(
    att_gt(yname = "l_homicide", tname = "year", idname = "sid", gname = "effyear", xformla = s$x,
           est_method = s$m, control_group = s$cg, data = s$data, bstrap = FALSE, cband = FALSE),
    warning = function(cond) { w <<- c(w, conditionMessage(cond)); invokeRestart("muffleWarning") })
  warn[[nm]] <- data.frame(spec = rep(nm, length(w)), warning = w)
  rows_gt[[nm]] <- data.frame(spec = nm, kind = "att_gt", group = out$group, time = out$t, label = "",
                              estimate = out$att, std_error = out$se)
  for (k in c("simple", "dynamic", "group", "calendar")) {
    a <- aggte(out, type = k, bstrap = FALSE, cband = FALSE, na.rm = TRUE)
    rows_ag[[length(rows_ag) + 1]] <- data.frame(spec = nm, kind = k, label = "overall",
                                                 estimate = a$overall.att, std_error = a$overall.se)
    if (k != "simple") {
      rows_ag[[length(rows_ag) + 1]] <- data.frame(spec = nm, kind = k, label = as.character(a$egt),
                                                   estimate = a$att.egt, std_error = a$se.egt)
    }
  }
}
write.csv(do.call(rbind, rows_gt), args[2], row.names = FALSE)
write.csv(do.call(rbind, rows_ag), args[3], row.names = FALSE)
if (length(args) > 3) write.csv(do.call(rbind, warn), args[4], row.names = FALSE)
