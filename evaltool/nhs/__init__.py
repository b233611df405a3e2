"""NHS data in: NHS numbers, diagnosis codes, published code lists, comorbidity and frailty scores,
and presets that turn HES/SUS, ECDS and GP-list extracts into evaltool's input contract.

Everything here is written as Ibis expressions that run in the engine (DuckDB, Spark, ...): an
extract is never read whole into pandas.
"""
