import * as React from "react"

type Plan = "starter" | "pro" | "enterprise"

type PricingCardProps = {
  plan: Plan
  price: number
  yearly?: boolean
  highlight?: string
}

const styles = { card: { padding: 24, borderRadius: 16, border: "1px solid #ddd" } }

const PricingCard: React.FC<PricingCardProps> = ({ plan = "pro", price = 249.5, yearly = true, highlight = "rgb(255, 196, 0)" }) => (
  <div style={styles.card}>
    <h3 style={{ color: highlight }}>{plan}</h3>
    <p>${price}{yearly ? "/year" : "/month"}</p>
  </div>
)

export default PricingCard
