"""Small files in the exact public Olist format (headers, quoting, quirks of olist-format.md)."""

from __future__ import annotations

from pathlib import Path

FILES: dict[str, str] = {
    "olist_customers_dataset.csv": '''"customer_id","customer_unique_id","customer_zip_code_prefix","customer_city","customer_state"
"06b8999e2fba1a1fbc88172c00ba8bc7","861eff4711a542e4b93843c6dd7febb0","14409","franca","SP"
"18955e83d337fd6b2def6b18a428ac77","290c77bc529b7ac935b93aa66c333dc3","09790","sao bernardo do campo","SP"
"4e7b3e00288586ebd08712fdd0374a03","060e732b5b29e8181a18229c7b0b2b5e","01151","sao paulo","SP"
"b2b6027bc5c5109e529d4dc6358b12c3","259dac757896d24d7702b9acbbff3f3c","08775","mogi das cruzes","SP"
"4f2d8ab171c80ec8364f7c12e35b23ad","345ecd01c38d18a9036ed96c73b8d066","13056","campinas","SP"
''',
    "olist_orders_dataset.csv": '''"order_id","customer_id","order_status","order_purchase_timestamp","order_approved_at","order_delivered_carrier_date","order_delivered_customer_date","order_estimated_delivery_date"
"e481f51cbdc54678b7cc49136f2d6af7","06b8999e2fba1a1fbc88172c00ba8bc7","delivered","2017-10-02 10:56:33","2017-10-02 11:07:15","2017-10-04 19:55:00","2017-10-10 21:25:13","2017-10-18 00:00:00"
"53cdb2fc8bc7dce0b6741e2150273451","18955e83d337fd6b2def6b18a428ac77","delivered","2018-07-24 20:41:37","2018-07-26 03:24:27","2018-07-26 14:31:00","","2018-08-13 00:00:00"
"47770eb9100c2d0c44946d9cf07ec65d","4e7b3e00288586ebd08712fdd0374a03","canceled","2018-08-08 08:38:49","","","","2018-09-04 00:00:00"
"949d5b44dbf5de918fe9c16f97b45f8a","b2b6027bc5c5109e529d4dc6358b12c3","delivered","2017-11-18 19:28:06","2017-11-18 19:45:59","2017-11-22 13:39:59","2017-11-20 10:00:00","2017-12-15 00:00:00"
"ad21c59c0840e6cb83a9ceb5573f8159","4f2d8ab171c80ec8364f7c12e35b23ad","processing","2018-02-13 21:18:39","2018-02-13 22:20:29","","","2018-02-26 00:00:00"
''',
    "olist_order_items_dataset.csv": '''"order_id","order_item_id","product_id","seller_id","shipping_limit_date","price","freight_value"
"e481f51cbdc54678b7cc49136f2d6af7","1","87285b34884572647811a353c7ac498a","3504c0cb71d7fa48d967e0e4c94d59d9","2017-10-06 11:07:15","29.99","8.72"
"53cdb2fc8bc7dce0b6741e2150273451","1","595fac2a385ac33a80bd5114aec74eb8","289cdb325fb7e7f891c38608bf9e0962","2018-07-30 03:24:27","118.70","22.76"
"949d5b44dbf5de918fe9c16f97b45f8a","1","d0b61bfb1de832b15ba9d266ca96e5b0","66922902710d126a0e7d26b0e3805106","2017-11-23 19:45:59","45.00","27.20"
"949d5b44dbf5de918fe9c16f97b45f8a","2","d0b61bfb1de832b15ba9d266ca96e5b0","66922902710d126a0e7d26b0e3805106","2017-11-23 19:45:59","45.00","27.20"
"ad21c59c0840e6cb83a9ceb5573f8159","1","65266b2da20d04dbe00c5c2d3bb7859e","2c9e548be18521d1c43cde1c582c6de8","2018-02-19 20:31:37","19.90","8.72"
''',
    "olist_order_payments_dataset.csv": '''"order_id","payment_sequential","payment_type","payment_installments","payment_value"
"e481f51cbdc54678b7cc49136f2d6af7","1","credit_card","1","18.12"
"e481f51cbdc54678b7cc49136f2d6af7","3","voucher","1","2.00"
"e481f51cbdc54678b7cc49136f2d6af7","2","voucher","1","18.59"
"53cdb2fc8bc7dce0b6741e2150273451","1","boleto","1","141.46"
"949d5b44dbf5de918fe9c16f97b45f8a","1","credit_card","0","144.40"
"ad21c59c0840e6cb83a9ceb5573f8159","1","not_defined","1","28.62"
''',
    "olist_order_reviews_dataset.csv": '''"review_id","order_id","review_score","review_comment_title","review_comment_message","review_creation_date","review_answer_timestamp"
"7bc2406110b926393aa56f80a40eba40","e481f51cbdc54678b7cc49136f2d6af7","4","","","2017-10-11 00:00:00","2017-10-12 03:43:48"
"80e641a11e56f04c1ad469d5645fdfde","53cdb2fc8bc7dce0b6741e2150273451","5","recomendo","Produto chegou antes do prazo,
muito bom!
Recomendo ""demais""","2018-08-08 00:00:00","2018-08-08 18:37:50"
"80e641a11e56f04c1ad469d5645fdfde","949d5b44dbf5de918fe9c16f97b45f8a","5","recomendo","Produto chegou antes do prazo,
muito bom!
Recomendo ""demais""","2018-08-08 00:00:00","2018-08-08 18:37:50"
"228ce5500dc1d8e020d8d1322874b6f0","ad21c59c0840e6cb83a9ceb5573f8159","1","","Não recebi, péssimo","2018-02-27 00:00:00","2018-02-28 12:00:00"
''',
    "olist_products_dataset.csv": '''"product_id","product_category_name","product_name_lenght","product_description_lenght","product_photos_qty","product_weight_g","product_length_cm","product_height_cm","product_width_cm"
"87285b34884572647811a353c7ac498a","utilidades_domesticas","40","268","4","500","19","8","13"
"595fac2a385ac33a80bd5114aec74eb8","perfumaria","29","178","1","400","19","13","19"
"d0b61bfb1de832b15ba9d266ca96e5b0","pc_gamer","46","276","1","1000","30","18","20"
"65266b2da20d04dbe00c5c2d3bb7859e","","","","","1000","30","18","20"
''',
    "olist_sellers_dataset.csv": '''"seller_id","seller_zip_code_prefix","seller_city","seller_state"
"3504c0cb71d7fa48d967e0e4c94d59d9","04195","sao paulo","SP"
"289cdb325fb7e7f891c38608bf9e0962","13023","campinas","SP"
"66922902710d126a0e7d26b0e3805106","01040","sao paulo","SP"
"2c9e548be18521d1c43cde1c582c6de8","14940","ibitinga","SP"
''',
    "olist_geolocation_dataset.csv": '''"geolocation_zip_code_prefix","geolocation_lat","geolocation_lng","geolocation_city","geolocation_state"
"01037","-23.54562128115268","-46.63929204800168","sao paulo","SP"
"01046","-23.546081127035535","-46.64482029837157","são paulo","SP"
"01046","-23.546081127035535","-46.64482029837157","sao paulo","SP"
"14409","-20.5364","-47.4003","franca","SP"
''',
    "product_category_name_translation.csv": '''"product_category_name","product_category_name_english"
"beleza_saude","health_beauty"
"utilidades_domesticas","housewares"
"perfumaria","perfumery"
''',
}


def write(folder: Path, names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        if names is None or name in names:
            (folder / name).write_text(text, encoding="utf-8")
    return folder
