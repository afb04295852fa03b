"""The checkers `snaptrail test` and the test suite prove fixtures with: per target, the real parser
and an engine that executes the compiled query over the records as that SIEM stores them.

- `harness`: the per-target registry (`HARNESSES`), `ExecutorLimit`;
- `storage`: what each SIEM stores for one CloudTrail record (ECS document, Sentinel row, Splunk fields);
- `executors`: duckdb-kql over Sentinel rows, Elastic's eql engine over ECS documents;
- `lucene_checker` (+ `lucene/LuceneRunner.java`) and `kusto_checker` (+ `kusto/kql_check.js` and the
  npm manifests): Apache Lucene under Java, Microsoft's Kusto.Language under node;
- `runtimes`: which of those can run here, and how to install what is missing;
- `run`: every declared fixture outcome on every target (what `snaptrail test` reports).

The optional Python runtimes come with `pip install 'snaptrail[verify]'`; Java, Lucene and node are
system packages; the npm package goes into a folder of its own (`kusto_checker.kusto_dir()`).
"""
