{#- hash_pii(column): the one way personal data leaves staging (GitLab handbook style).

    sha256 of salt || lower(trim(value)), as 64 hex characters; empty values become null. Values are
    normalised first so the same e-mail typed with different case or spaces hashes the same, and a
    hashed column can still be joined and counted. The salt comes from the environment variable
    PII_HASH_SALT (default 'dev-salt' for local work; set a real one on servers and keep it out of
    the repo). Columns hashed with it carry `meta: {sensitive: true}` in their model's YAML.

    The salt is part of the compiled SQL, so models that call hash_pii are materialized as tables,
    never views: a view's definition is readable from pg_views by every role. -#}
{% macro hash_pii(column) -%}
    {%- set salt = env_var('PII_HASH_SALT', 'dev-salt') | replace("'", "''") -%}
    case
        when nullif(btrim({{ column }}::text), '') is not null
            then encode(sha256(convert_to('{{ salt }}' || lower(btrim({{ column }}::text)), 'UTF8')), 'hex')
    end
{%- endmacro %}
