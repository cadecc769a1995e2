//! Points of sale: look them up, create one (idempotent, one per `merchantPosId`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::guard::Input;
use super::{error, lock, random_id, Sb};
use crate::providers::mobilepay::{OP_POS_CREATE, OP_POS_LOOKUP};

#[derive(Debug, Clone)]
pub(super) struct PointOfSale {
    pub(super) pos_id: String,
    merchant_pos_id: String,
    store_id: String,
    name: String,
}

pub(super) async fn lookup(
    State(sb): Sb,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let input = Input::Query(query.as_deref());
    sb.call(OP_POS_LOOKUP, &headers, input, |q, facts| {
        let field = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_owned);
        let (merchant_pos_id, pos_id, store_id) =
            (field("merchantPosId"), field("posId"), field("storeId"));
        let found: Vec<Value> = lock(&sb.state)
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

pub(super) async fn create(State(sb): Sb, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    sb.call(
        OP_POS_CREATE,
        &headers,
        Input::Json(&body),
        |json, facts| {
            let key = sb.idempotency(OP_POS_CREATE, &headers, &json, facts)?;
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
        },
    )
    .await
}
