{%- set statuses = status_list() -%}
select
    order_id,
    {% for s in statuses -%}
    case when status = '{{ s }}' then 1 else 0 end as is_{{ s }}{% if not loop.last %},{% endif %}
    {% endfor %}
from {{ ref('stg_orders') }}
