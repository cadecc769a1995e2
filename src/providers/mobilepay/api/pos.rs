//! Points of sale: look them up, create one (idempotent, one per `merchantPosId`).

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::guard::Input;
use super::{error, lock, random_id, PosCall};
use crate::providers::mobilepay::{OP_POS_CREATE, OP_POS_LOOKUP};

#[derive(Debug, Clone)]
pub(super) struct PointOfSale {
    pub(super) pos_id: String,
    merchant_pos_id: String,
    store_id: String,
    name: String,
}

pub(super) async fn lookup(call: PosCall, RawQuery(query): RawQuery) -> Response {
    call.answer(OP_POS_LOOKUP, Input::Query(query.as_deref()), |q, facts| {
        let field = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_owned);
        let (merchant_pos_id, pos_id, store_id) =
            (field("merchantPosId"), field("posId"), field("storeId"));
        let found: Vec<Value> = lock(&call.sb.state)
            .points_of_sale
            .iter()
            .filter(|p| merchant_pos_id.as_ref().is_none_or(|m| *m == p.merchant_pos_id))
            .filter(|p| pos_id.as_ref().is_none_or(|m| *m == p.pos_id))
            .filter(|p| store_id.as_ref().is_none_or(|m| *m == p.store_id))
            .map(|p| {
                json!({"posId": p.pos_id, "merchantPosId": p.merchant_pos_id, "storeId": p.store_id,
                       "name": p.name, "beaconId": null, "supportedBeaconTypes": [], "callbackAlias": null})
            })
            .collect();
        facts.notes.insert("found".into(), json!(found.len()));
        Ok(Json(json!({ "pointOfSales": found })).into_response())
    })
    .await
}

pub(super) async fn create(call: PosCall, body: Bytes) -> Response {
    let sb = &call.sb;
    call.answer(OP_POS_CREATE, Input::Json(&body), |json, facts| {
        let key = sb.idempotency(OP_POS_CREATE, &call.headers, &json, facts)?;
        let merchant_pos_id = json["merchantPosId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut st = lock(&sb.state);
        if st
            .points_of_sale
            .iter()
            .any(|p| p.merchant_pos_id == merchant_pos_id)
        {
            drop(st);
            return Err(error(
                StatusCode::CONFLICT,
                "1008",
                "A point of sale with this merchantPosId already exists (code inferred).",
            ));
        }
        let pos = PointOfSale {
            pos_id: random_id(),
            merchant_pos_id,
            store_id: json["storeId"].as_str().unwrap_or_default().to_owned(),
            name: json["name"].as_str().unwrap_or_default().to_owned(),
        };
        let answer = json!({ "posId": pos.pos_id });
        st.points_of_sale.push(pos);
        drop(st);
        sb.remember(key, OP_POS_CREATE, &json, StatusCode::OK, &answer);
        Ok(Json(answer).into_response())
    })
    .await
}
