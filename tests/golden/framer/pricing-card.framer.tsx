import * as React from "react"
import { addPropertyControls, ControlType } from "framer"

type Plan = "starter" | "pro" | "enterprise"

type PricingCardProps = {
  plan: Plan
  price: number
  yearly?: boolean
  highlight?: string
}

const styles = { card: { padding: 24, borderRadius: 16, border: "1px solid #ddd" } }

/**
 * @framerSupportedLayoutWidth any
 * @framerSupportedLayoutHeight any
 */
export default function PricingCard({ plan = "pro", price = 249.5, yearly = true, highlight = "rgb(255, 196, 0)" }: PricingCardProps) {
    return (
      <div style={{ position: "relative", ...styles.card }}>
        <h3 style={{ color: highlight }}>{plan}</h3>
        <p>${price}{yearly ? "/year" : "/month"}</p>
      </div>
    )
}

addPropertyControls(PricingCard, {
    plan: { type: ControlType.Enum, title: "Plan", options: ["starter", "pro", "enterprise"], defaultValue: "pro" },
    price: { type: ControlType.Number, title: "Price", defaultValue: 249.5, max: 499, step: 0.1 },
    yearly: { type: ControlType.Boolean, title: "Yearly", defaultValue: true },
    highlight: { type: ControlType.Color, title: "Highlight", defaultValue: "rgb(255, 196, 0)" },
})
