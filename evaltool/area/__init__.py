from evaltool.area.its import interrupted_time_series, ITSResult
