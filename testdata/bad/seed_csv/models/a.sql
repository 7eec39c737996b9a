select * from {{ ref("x") }}
