DROP TABLE report_items;
