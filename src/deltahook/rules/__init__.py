"""Event Settings: YAML rules that turn row changes into notifications.

loader      rule files -> RuleSet, or RuleError with every problem at file:line:col
source      YAML nodes with locations; problems collected, not raised one by one
tables      what rules can name: tables, fields and their JSON types, from the catalog
setting     one setting compiled: table, operations, watch, filter, threshold, breakpoint
conditions  filters compiled to closures, and their traces for near misses
context     what a rule sees of a row change; references compiled to getters
payload     payload mappings, checked against the event schema at load time
model       Setting, Threshold, Breakpoint, RuleSet (routed by kind and table)
evaluate    RulesDecider: the rule set applied to each batch of an ingest or preview
breakpoints the pure crossing/re-arm step; state: rule_state reads and writes
explain     explanations and near misses; testing: rule test files
direct      events posted directly (emit, JobCompletedEvent); usage: who uses each type
"""
