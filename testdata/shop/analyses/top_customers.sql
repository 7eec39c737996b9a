select * from {{ ref('dim_customers') }} order by revenue desc limit 3
