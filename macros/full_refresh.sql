{#- dbt's should_full_refresh() (which is_incremental() and the materializations ask), plus one
    rule: an incremental model whose table lacks a column the model now has is rebuilt whole.

    The columns the model has are its documented ones, and the `_built_at` stamp when its SQL
    writes one (macros/incremental.sql). A table written by an older version of the project, or
    before a column was added, would otherwise fail the build (the changed-keys queries read
    `this._built_at`) or get the new column null on every old row (`append_new_columns`). A model
    rebuilt whole stamps every row, so the incremental models downstream rebuild the keys it holds.
    The full_refresh config still wins both ways. -#}
{% macro should_full_refresh() %}
  {%- set configured = config.get('full_refresh') -%}
  {%- if configured is not none -%}
    {%- do return(configured) -%}
  {%- elif flags.FULL_REFRESH -%}
    {%- do return(true) -%}
  {%- elif not execute or model.get('config', {}).get('materialized') != 'incremental' -%}
    {%- do return(false) -%}
  {%- endif -%}
  {%- do return(columns_missing_from_table() | length > 0) -%}
{% endmacro %}

{#- The columns the incremental model has (see should_full_refresh) that its table lacks; none when
    there is no table yet. Asked once per build context: is_incremental() calls come often. -#}
{% macro columns_missing_from_table() %}
  {%- if '_columns_missing_from_table' in model -%}
    {%- do return(model['_columns_missing_from_table']) -%}
  {%- endif -%}
  {%- set relation = adapter.get_relation(this.database, this.schema, this.identifier) -%}
  {%- set missing = [] -%}
  {%- if relation is not none and relation.type == 'table' -%}
    {%- set held = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- set wanted = model.get('columns', {}).keys() | map('lower') | list -%}
    {%- if 'built_at()' in model.get('raw_code', '') -%}
      {%- do wanted.append('_built_at') -%}
    {%- endif -%}
    {%- for column in wanted if column not in held and column not in missing -%}
      {%- do missing.append(column) -%}
    {%- endfor -%}
    {%- if missing and model.get('compiled_code') is none -%}  {#- said once: at compile -#}
      {%- do log(this ~ " lacks " ~ missing | join(", ") ~ " (the model has them): rebuilding it whole", info=true) -%}
    {%- endif -%}
  {%- endif -%}
  {%- do model.update({'_columns_missing_from_table': missing}) -%}
  {%- do return(missing) -%}
{% endmacro %}
