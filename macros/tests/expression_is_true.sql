{#- expression_is_true: a boolean SQL expression holds on every row (rows where it is false or
    null fail). With column_name, the expression is written relative to the column: `>= 0`. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ column_name ~ ' ' if column_name else '' }}{{ expression }}), false)
{% endtest %}
