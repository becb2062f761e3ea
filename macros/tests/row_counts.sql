{#- not_empty: the model has at least one row (a mart that silently builds empty is a failure). -#}
{% test not_empty(model) %}
select 1 as no_rows
where not exists (select 1 from {{ model }})
{% endtest %}

{#- is_empty: the relation has no rows. Used with severity warn on the loaders' quarantine tables,
    so rows rejected at load time show up in every build's summary. A loader creates its
    quarantine table with the first rejected row, so a missing table counts as empty. -#}
{% test is_empty(model) %}
{%- set relation = adapter.get_relation(database=model.database, schema=model.schema, identifier=model.identifier) if execute else none -%}
{%- if execute and relation is none %}
select 1 as rejected_row where false
{%- else %}
select * from {{ model }}
{%- endif %}
{% endtest %}
