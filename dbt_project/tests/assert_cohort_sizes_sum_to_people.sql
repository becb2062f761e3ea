-- Every person belongs to exactly one cohort: the sizes of the cohorts add up to the people in
-- the customer marts, per transaction source.
-- Dagster shows this test as an asset check of customer_cohorts (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'customer_cohorts'}}}) }}

with cohorts as (
    select
        transaction_source,
        sum(cohort_size) as people_in_cohorts
    from {{ ref('customer_cohorts') }}
    where cohort_month_number = 0
    group by transaction_source
),

people as (
    select
        transaction_source,
        count(*) as people
    from {{ ref('customer_lifetime_value') }}
    group by transaction_source
)

select
    people.transaction_source,
    people.people,
    cohorts.people_in_cohorts
from people
full outer join cohorts
    on people.transaction_source = cohorts.transaction_source
where cohorts.people_in_cohorts is distinct from people.people
