-- Downstream of customers: `kiln build` must skip it when unique_customers_id fails.
select id as customer_id, count(*) as n_rows
from {{ ref('customers') }}
group by id
